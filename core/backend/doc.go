// Package backend is the shard's contract: what the network layer (netio) and a node's
// router call on a shard, and what a shard hands back. A core/shard.Shard implements
// Backend; so does a core/node.Node of several shards, which routes each request; and
// netio/fakeshard is the in-memory fake that tests the network layer without either.
//
// It depends on core/model (and core/event, the events a Consumer receives) only, so that netio imports neither the ledger, the matching
// engine, the log nor the compressor.
package backend
