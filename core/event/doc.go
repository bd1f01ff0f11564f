// Package event is the vocabulary of Sequent's outbound streams: the committed changes
// that applying a log entry produces besides its replies (accounts created; transfers
// created, posted, voided, expired, with balances after; orders accepted, replaced,
// canceled, filled, expired; trades; price-level changes), and the Buffer that collects
// them.
//
// # Determinism
//
// Events are a pure function of the log: the ledger and the matching engine append them
// while they apply an entry, in the order the changes happen, and each is named by the
// op of the request that caused it and its index among that op's events. A standby and a
// replay of the same log produce the same events with the same names and, for market
// data, the same per-instrument sequence numbers (those counters are machine state,
// snapshotted and covered by the digest). So the names survive a failover: change
// capture uses shard:op:index as its message id and market-data subscribers resume by op.
//
// # Ownership
//
// A Buffer belongs to one core.Output: the sequencer goroutine fills it during Apply and
// hands it, read-only, to the release consumers (core/shard.Consumer), which copy what
// they keep before returning. Linked chains that fail are undone in the buffer too
// (Mark, Truncate), so a rolled-back transfer never becomes an event.
package event
