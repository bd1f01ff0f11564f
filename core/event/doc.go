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
// Order reservations (package ledger, "Reservations") are not events either: reserving,
// releasing or resizing what an order holds changes the paying account's
// debits_pending and the escrow's credits_pending without a transfer, and shows only in
// the balances that the account's next transfer event carries. A consumer that needs
// the reserved amount derives it from the order events (each carries the order's price,
// quantities and, through the order, its reserve price or budget; PROTOCOL.md gives the
// formula). Why no event of its own (the design in core/match/README.md proposed
// reservation_changed): every order change already has an event, a new kind is a new
// subject and schema for every capture consumer, and the hold transfers these changes
// replaced were themselves a second copy of the order events. Every fill is still a
// transfer event: transfer_created with the flag from_reservation.
//
// # Ownership
//
// A Buffer belongs to one core.Output: the sequencer goroutine fills it during Apply and
// hands it, read-only, to the release consumers (core/backend.Consumer), which copy what
// they keep before returning. Linked chains that fail are undone in the buffer too
// (Mark, Truncate), so a rolled-back transfer never becomes an event.
package event
