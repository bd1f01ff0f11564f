// Package risk is the sequencer's inline risk engine: rules the operators set (per
// ledger, per account or per client) that every create_transfers event is checked
// against before the ledger applies it, deterministically, inside the state machine.
// The rules' semantics, statuses and precedence are specified in netio/PROTOCOL.md
// (section 12, "Risk rules"); core/ledger/risk.go says where the checks sit among the
// ledger's own.
//
// # Determinism
//
// Time is the event's timestamp; every counter (velocity windows, daily totals,
// exponentially weighted averages) is state, in integer arithmetic, snapshotted (the
// machine's risk section, snapshot.go) and so part of the digest; rules change only
// through logged internal requests (set_risk_rules, remove_risk_rules). A replay and the
// standby therefore make every decision the primary made. Nothing here reads a clock,
// iterates a map where order shows, or allocates on the hot path in steady state.
//
// # Hot path: O(1) per transfer, no map
//
// Rules are resolved into profiles when they change (rebuild): one per ledger with rules,
// one per account with rules of its own (its ledger's rules, each kind replaced by the
// account's), and each client's list. Per transfer the engine reads the debit account's
// profile (a dense per-account index, then its ledger's profile through a one-entry
// cache), its account cell (velocity window and averages in one record of two cache
// lines, in a dense array by account index; the window's older amounts, written only
// when it moves on with amounts to carry, in a cold array beside it) and the sending
// client's rules (resolved once per batch by Begin: the only map lookup). A window keeps its running
// totals, so checking one is a compare per limit. Counters are stamped with the
// generation of the rule they belong to: a replaced rule starts with empty counters
// without walking the accounts. When no rule blocks accounts and the batch's client has
// no rules of its own (the usual case), Evaluate checks the debit profile's rules alone,
// without the client's loops; at the first check not passed it runs the general path
// from the start, so refusals, holds and their explanations have one implementation
// (TestDebitPathMatchesGeneralPath holds the two paths to the same decisions and
// counters). The cells' two lines are prefetched (prefetch instructions, a hint) a
// block of transfers ahead, with the account records.
//
// Cooling-off judges the payee account's age (its creation timestamp, already in the
// account record) rather than the history of each (payer, payee) pair: a pair table
// would be an unbounded hash map on the hot path (one more cache miss and ~40 bytes per
// pair; measured at about half the ledger's speed with every pair new), while newly
// opened receiving accounts are the pattern the rule is for (mule accounts).
//
// # Several shards
//
// On a node of several shards each shard's engine judges the transfers whose debit
// account it holds, with its own counters; a cross-shard transfer's step 1 (the debit,
// core/saga) goes through Evaluate like a local transfer (a hold refusing, as in a chain;
// from rules version 5 with the payee as CreditID, so blocked counterparties see it), and
// its credit on the other shard through Payee (version 5 on: the payee's blocks and the
// client's blocked counterparty naming the payee), which counts nothing.
//
// # Linked chains
//
// A chain's transfers see each other's counts, and a chain that fails takes them back:
// the ledger drives BeginChain, CommitChain and RollbackChain with its own undo log, and
// the engine keeps the before-images of the cells and rule counters the chain changed.
// A hold inside a chain is a refusal (a chain is all or nothing).
//
// # Ownership
//
// One goroutine (the shard's sequencer, through the ledger) owns an Engine. A
// SnapshotView is a copy and may be written from any goroutine.
package risk
