// Package core is Sequent's deterministic state machine: the ledger (core/ledger), the
// matching engine (core/match) and the session table, behind one Apply function that takes
// a log entry and returns the replies.
//
// Rules that every file under core/ (except core/shard, which drives it) obeys:
//
//   - No I/O, no goroutines, no clock. Time arrives as the entry's timestamp.
//   - Determinism: the same entries applied in the same order to an empty Machine give
//     byte-identical state, the same replies and the same digest. Nothing depends on map
//     iteration order, randomness or addresses. Hash tables may use a per-process seed
//     because their layout is never observable.
//   - A rejected command is a model.Status, never a Go error; Go errors are for malformed
//     input that the caller should not have let in (and for I/O, which core does not do);
//     panics are for bugs.
//   - Every bound is a named constant (see limits.go in each package).
//
// Apply also fills Output.Events with the entry's committed changes (package event),
// named by op and index, for the outbound streams; they are as deterministic as the
// state (TestEventsReplayIdentically).
//
// Ordering rule (as in etcd raft's Ready): the caller may apply an entry before it is
// durable, but must not release any reply of that entry, nor of any later read, before the
// entry is durable (and acknowledged by the standby in sync mode).
package core
