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
// Ownership is decided here, not in the network layer: every logged request carries the
// authenticated client id (Request.Client, set by the network layer from the session,
// never by the client), the ledger records which client created each account, and the
// grant table from the keys file reaches the machine as a logged internal request
// (model.OperationSetGrants, written by the primary at start, after each keys reload
// and after a promotion). Every input of an ownership decision is therefore in the log,
// and a replay, a restored snapshot and the standby decide exactly as the primary did.
// The rules are in package ledger ("Ownership") and package match ("Ownership"); the
// network layer still checks the coarse permissions (read, transfer, trade, admin),
// which say which operations a client may send, not on whose money.
//
// Per-client limits (the keys file's limits.accounts_max: how many accounts a client may
// own) reach the machine the same way, in the same request: from rules version 3 on,
// set_grants carries a table of model.ClientLimit records after the grants, counted by
// what was the body header's reserved word (model.AppendGrantsAndLimits). One request
// rather than a sibling operation, because a keys file's grants and limits are one
// table: they change together at one op (a reload never applies half), the primary's
// existing "write it unless already in force" comparison covers both, and every caller
// that hands the shard the keys file's table (serve at start and on reload, promotion)
// carries the limits with no change. A keys file without limits encodes exactly as
// before, so its log is unchanged. Below version 3 a set_grants request with limits is
// refused whole (invalid_body), as the builds before limits refused its non-zero
// reserved word; the primary therefore opens an entry whose table carries limits with
// upgrade_rules when its machine is below version 3 (core/shard). The bound is enforced
// by package ledger (accounts_limit_per_client_reached) on the count of the accounts the
// client created, which the ledger already keeps for its owned lists (undone with a
// rolled-back chain, rebuilt from the accounts' owners on restore); the limit table is
// in the machine snapshot (snapshot.go).
//
// Exactly-once: the session table remembers, with each cached reply, a 64-bit digest of
// the request (operation, flags, body; requestDigest). A resent number with the same
// digest gets the cached reply (duplicate); with another digest it is refused with
// request_number_reused, so that a client that reuses a number by mistake learns it
// instead of receiving another request's reply.
//
// Apply also fills Output.Events with the entry's committed changes (package event),
// named by op and index, for the outbound streams; they are as deterministic as the
// state (TestEventsReplayIdentically). Refusals (ownership ones included) change nothing
// and produce no event; set_grants changes no account, transfer or order and produces
// none either (package event, "What is not an event").
//
// # Rules version
//
// The machine applies entries under a rules version (rules.go), part of its state: a
// change that would make the same entries produce another state is a new version, and
// the old behaviour stays, chosen by the version in force, so that every existing log
// replays bit for bit. An empty machine (New) is at version 1, and so is every snapshot
// and log written before versions existed. The version moves only through the log: the
// internal request upgrade_rules (model.OperationUpgradeRules, body: the target version),
// with which the primary (core/shard) opens the first entry of writes it sequences while
// its machine is below RulesVersionCurrent: op 1 of a fresh data directory, the first
// writes of a new build on an old log, those after the promotion of a standby that
// followed one. (Config.RulesVersion builds a machine at a later version directly, for
// tests whose logs nothing replays under another configuration.) A standby
// and a replay apply it at the same op, so every replica switches there; a restart finds
// the version in its recovered state and writes nothing. It never goes back, and a target
// this build does not implement is refused (invalid_body) without effect: a build older
// than the log cannot follow it (a standby must be upgraded before its primary: the
// primary's replication welcome names the version its build writes, and a standby of an
// older build refuses it; one from before that check skips the entry, and only the
// digest comparison at the next snapshot catches it). Clients cannot
// send it (unknown_operation, as every internal operation). The snapshot carries the
// version from machine snapshot version 6 on, written only above version 1, so the state
// of a log that was never upgraded encodes and digests exactly as before.
//
// Versions: 1, cross-shard transfers create their settlement accounts (core/saga) before
// any check of the batch, so a refused transfer may leave one; 2, a settlement account is
// created only for a transfer that passes the debit side's checks (its debit account
// exists on this shard, on the transfer's ledger, and the client may debit it), so a
// client cannot fill the accounts limit with refused transfers. The results are the same
// under both but at the accounts limit (a transfer refused on its debit side whose
// settlement account could not be created answers accounts_limit_reached under 1, the
// debit side's code under 2 unless an earlier transfer of its batch that passed needed
// the same account); the state differs (those accounts, and the timestamps after them);
// 3, set_grants may carry per-client limits (above), which bound each client's accounts;
// under 1 and 2 a set_grants request with limits answers invalid_body and changes
// nothing, and without limits every version applies the same; 4, byte 104 of a place
// event is read as the order flags (package match, "Idempotency": increasing client order
// ids); under 1 to 3 it is still reserved, and a place with it set answers
// reserved_field, remembered under its key, as the builds before the flags applied it;
// 5, the risk rules see the payee of a cross-shard transfer: step 1 of its saga is judged
// as a transfer to the payee where a rule names the other account (blocked
// counterparties; ledger.CreateSagaTransfersTo), and step 2 on the credit shard by the
// payee's blocks (ledger.PayeeRisk), a refusal there voiding step 1 with that code; under
// 1 to 4 step 1 names the settlement account and step 2 is judged by no rule; 6, the
// rights of a withdrawn grant stop at once where they still acted: a replace_orders
// event needs the trade right over the order's paying account (package match,
// replaceFundingStatus), a client's debit that would take an account without
// debits_must_not_exceed_credits above its credits needs the right to issue money there
// (package ledger, "Issuing money": exceeds_credits; an order's hold, or a replace's
// raise of one, alike: ledger.ReserveFor, insufficient_funds), and a client may opt at most
// match.IncreasingAccountsPerClientMax trading accounts into increasing client order ids
// (accounts_limit_reached beyond); under 1 to 5 each is applied as before; 7, a client
// may keep at most its share of a shard's open orders (match.Config.OrdersPerClientMax, a
// sixteenth of OrdersMax by default; the system and operators are not bound): beyond, a
// place of an order that could rest answers orders_limit_reached, as with the table full;
// under 1 to 6 only the table's bound applies; 8, after the ledger refuses to settle a
// fill with a resting order, matching goes on in shorter steps (match.Engine's
// SetRefusalShrinksSteps), and a transfer a holding anomaly rule would hold but a later
// check of the ledger refuses names no rule in its result (ledger.SetRuleOnlyWhenHeld);
// under 1 to 7 each refused fill was followed by a whole step built and undone again,
// and the refusal named the holding rule; 9, a cross-shard balancing_credit transfer
// without balancing_debit, from a debit-limited account or one its client may not issue
// money in, is judged on the amount it moves (package saga, SetPayerBound: step 1
// reserves at most what the payer may pay, and its Credit's payer-bound bit makes step 2
// refuse exceeds_credits rather than credit more); under 1 to 8 step 1 reserved the
// amount named, and a Credit with that bit is skipped as malformed; 10, such a transfer
// from a payer that may issue money reserves at most half of what the payer's debits and
// the settlement account's credits can still take without overflowing (package saga,
// SetHeadroomBound), as the payer's bound; under 1 to 9 it reserved the amount named,
// which overflowed for an amount such as 2^128-1 once the payer or the pair had any
// amount posted; 11, a ledger-scope daily_amount refusal (risk_ledger_daily_amount)
// answered to a client without the operator scope carries 0 as the day's total, every
// client's (package ledger, SetLedgerTotalHidden); under 1 to 10 it carried the total.
//
// Ordering rule (as in etcd raft's Ready): the caller may apply an entry before it is
// durable, but must not release any reply of that entry, nor of any later read, before the
// entry is durable (and acknowledged by the standby in sync mode).
//
// # Shards and sagas
//
// A node may run several shards, each with its own Machine. Config.Shard gives the machine
// the node's shard map (core/shardmap) and its own index; the zero value is one unsharded
// machine and behaves as before. A sharded machine refuses to create an account that the
// map places elsewhere (wrong_shard), and treats a transfer whose debit account is here and
// whose credit account is elsewhere as the first step of a saga (core/saga): a pending
// transfer with the client's id into the pair's settlement account, answered
// saga_in_flight. The other steps arrive as internal operations written into the log by
// the node's router (saga_credit on the credit shard, saga_finish back on the debit shard,
// saga_forget), so every step is a logged entry and a replay or a standby takes it alike.
// Messages that the steps imply leave in Output.Messages, which the shard runtime releases
// with the entry's replies (only once durable). The design, its invariants and the choices
// for linked chains and two-phase transfers across shards are in package node's doc.
package core
