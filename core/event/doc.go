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
// capture uses shard:op:index, with the entry's epoch (shard:op:index:epoch: different
// when two primaries wrote different entries at one op), as its message id and
// market-data subscribers resume by op.
//
// # What is not an event
//
// Only committed changes of accounts, transfers, orders and books are events. A refusal
// (any non-ok result, the ownership refusals of package ledger included) changes nothing
// and produces none: it is told to its sender only. Internal requests that change no
// account, transfer or order produce none either: pulses (though the expiries at the
// start of their entry do), snapshot markers, audit records, and set_grants. The grant
// table is access control from the keys file, logged so that every replica decides
// alike; it is no business change, its audit trail is the log entry itself (`sequent wal
// inspect`), and publishing it would tell every reader of the capture stream who may
// read what. An account_created event names the account's owner (the client whose
// request created it; 0 for the system), the ownership decision that lasts.
//
// # Ownership
//
// A Buffer belongs to one core.Output: the sequencer goroutine fills it during Apply and
// hands it, read-only, to the release consumers (core/backend.Consumer), which copy what
// they keep before returning. Linked chains that fail are undone in the buffer too
// (Mark, Truncate), so a rolled-back transfer never becomes an event.
package event
