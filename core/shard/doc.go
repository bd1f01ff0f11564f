// Package shard is the runtime that drives one shard's deterministic core: a bounded input
// ring filled by the network layer, and one sequencer goroutine that drains it in
// batches, stamps op numbers and timestamps, hands each batch to the write-ahead log,
// applies it to the core, and releases the replies once the log (and, in sync mode, the
// standby) has made the batch durable.
//
// Unlike the rest of core/, this package owns goroutines and reads the clock; it reaches
// the disk and the network only through small interfaces (wal.Appender, Replier).
package shard
