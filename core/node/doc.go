// Package node runs N shards in one process: N core/shard sequencers (each with its own
// input ring, log, snapshots and core.Machine), the router that splits and merges client
// requests by the shard map, and the saga driver that moves the messages of cross-shard
// transfers between the shards. This file is the design of sharding (issue 13); the
// deterministic parts live in core (core/shardmap, core/saga, core.Machine) and in
// node/router, and this package only adds goroutines, a clock and the in-process
// transport.
//
// # Status
//
// Built and wired: the shard map (core/shardmap), the saga steps in the core (core/saga,
// applied by core.Machine from the log), the router and saga driver (node/router,
// deterministic), this in-process runtime over N core/shard.Shard, a deterministic
// simulation and a property test; `sequent serve --shards N` serves a Node behind netio,
// replication ships the node's N logs as one group with one epoch, and /v1/status, the
// metrics, `wal inspect|verify`, `sequent reconcile`, drill, bench and change capture (a
// stream per shard) cover every shard, market data has one feed per shard (netio, each
// a consumer of its shard's release), settlement netting reads every shard
// (tools/clearing, ShardedReader in the server), and execution reports are one stream
// per shard: each shard's released reports go to the clients' replier tagged with the
// shard (shardOutputs, on that shard's goroutine), and Node.ReplayShardReports replays
// one shard's (backend.ShardReportReplayer; ReplayReports is the default instrument
// shard's). Not built on several shards (the README's "Shards" says why): conversion
// across shards, and shards on several machines.
//
// # Shape
//
//	netio ──▶ router ──▶ shard 0 sequencer ── log 0 ──┐
//	            │   ▲        │ saga messages (released with the entry that made them)
//	            │   │        ▼                          ├──▶ release ──▶ router ──▶ replies
//	            │   └── shard 1 sequencer ── log 1 ──┘
//	            └─ split / merge, exactly-once per session, saga driver, transport
//
// A node holds one shard map (core/shardmap), fixed when its data directory is created:
// accounts are placed by ledger, by id range or by a hash of the id; instruments one shard
// each. Every shard's core knows the map and its own index (core.Config.Shard), so the
// state machine itself decides whether a transfer is local or crosses shards: a replay and
// a standby decide alike.
//
// # Requests
//
// The router computes the shard of every event of a request:
//
//   - create_accounts: the account's shard. create_transfers: the debit account's shard
//     (a post or void: the shard of the debit account it names, or of its ledger with
//     ledger placement; one that names neither is refused with placement_field_missing,
//     because the router could only find its pending transfer by asking every shard, and
//     an answer that can change between two attempts would break exactly-once).
//   - A linked chain whose events are not all local to one shard is refused before any
//     shard sees it: the first event that leaves the chain's shard (or crosses shards)
//     gets linked_chain_spans_shards, the others linked_event_failed. A chain needs one
//     ledger's undo log; across shards it would need two-phase commit of every event.
//   - Lookups by id go to the owning shard (accounts) or to every shard (transfers: a
//     transfer id says nothing about placement; with ledger placement, account ids do not
//     either; nor do the ids of Sequent's own accounts, settlement accounts and escrows),
//     and the records found are merged in the order of the ids asked.
//   - Instrument-addressed matching commands go to the instrument's shard. Commands that
//     name only an order (cancel, replace, lookup_orders, get_account_orders, mass_cancel
//     of every instrument) go to the instruments' shard when the map puts every
//     instrument on one shard, and are refused with instrument_shard_unknown otherwise
//     (order ids are per shard; tagging them with their shard is phase-2 work). An order
//     whose funding accounts are not on its instrument's shard is refused with
//     account_on_other_shard (holds are local transfers into the instrument's escrows).
//   - get_shard_map is answered by the router from the map.
//
// A request whose events all belong to one shard (no cross-shard transfer) is passed
// through unchanged: same connection id, no bookkeeping. Otherwise it is split into one
// part per shard, each part carrying that shard's events in their original order under
// the request's own (client, session, number). Events of one shard apply in their order;
// events on different shards, and the later steps of a saga, in no set order relative to
// each other (a local transfer on the credit shard may come before the saga's credit, so
// the balances a result reports are those right after its own step).
//
// # Exactly-once for split requests
//
// Each shard keeps its own session table. The split is a pure function of the request body
// and the map, so a retry (after a reconnect, a restart or a failover) re-splits
// identically and each shard answers its part from its session cache or applies it now if
// it never got it: every part is exactly-once on its shard, hence the whole request. The
// merged reply is released only when every part's reply is released (its entry durable and
// standby-acknowledged) and every saga it started is final and durable.
//
// A part's result for a cross-shard transfer is provisional in the debit shard's log and
// session cache: saga_in_flight (the event started a saga) or saga_in_flight_retry (an
// identical retry of a transfer whose saga is still running). The router never sends
// either to a client: it waits for the saga's final result, which the debit shard emits
// when the saga's last step is applied, and it asks the debit shard for it (saga_lookup,
// a read released after durability) whenever the provisional result came from the session
// cache (a duplicate) or from a retry, because that saga may have finished long before.
// So a retry that arrives while the saga runs waits for the final answer; one that arrives
// after gets the final answer; never step 1's provisional one. If a part was accepted and
// a later part is refused busy, the router keeps resubmitting the refused part (the ring
// drains) instead of answering busy, which promises that nothing was queued; until it is
// queued, the later writes of its session for its shard are refused busy at once (or,
// parts of a split write already queued, held behind it), so the node never applies a
// write on a shard after a later one of its session (only a client's resend can): the
// client's count of the replies each shard caches after a request (PROTOCOL.md §7)
// stays true. A shard
// that stops or restarts answers its outstanding parts with an outcome-unknown status
// (shutting_down, internal_error): the merged reply carries it and the client retries,
// safely.
//
// Each shard's session state covers only the requests with events on it, so one shard may
// have evicted a request's reply (or forgotten the session) while another still caches
// its part: a resend is then request_too_old (final; the client looks the ids up), or, for
// a forgotten session, that part is applied again as a new request, which the ledger's
// ids answer with exists. A number reused for another body is refused only by the shards
// that applied it. PROTOCOL.md §18 ("Sessions on several shards") states all of this for
// clients; router/shardcache_test.go holds it.
//
// # Cross-shard transfers: the saga (core/saga has the details)
//
// Transfer X from account a on shard A to account b on shard B, ledger L:
//
//  1. A (in the log of A, as part of the client's request): every check of a local
//     transfer that A can make (the id, idempotency, validation, the debit account:
//     exists, ledger, closed, balancing, overflow, limits) and then a pending transfer
//     with the client's id X from a to the settlement account S(A→B, L). Result:
//     saga_in_flight. The saga gets the next saga sequence number of A.
//  2. B (in the log of B, operation saga_credit): a transfer with id C(A, seq) from
//     S(A→B, L) to b, with the credit side's checks (exists, ledger, closed, overflow,
//     limits, balancing). B records its decision (created or refused, with b's balances)
//     under (A, seq) before anything else, so a duplicate message gets the same decision
//     and is never evaluated twice.
//  3. A (in the log of A, operation saga_finish): post step 1 (id P(B, seq)) with the
//     amount B credited, or void it (id V(B, seq)) when B refused: compensation. The saga
//     is final; its result (status, timestamps, both balances) is kept for retries and
//     lookups.
//
// The settlement accounts S(A→B, L) exist once on each of A and B (same id), are created
// on first use by the step that needs them (deterministic: part of applying a logged
// entry) and have no balance limits. On A, from rules version 2 (package core, "Rules
// version"), only for a transfer that passes A's own checks of the debit account (it
// exists there, on the transfer's ledger, and the client may debit it): a refused
// transfer creates nothing, so no client can fill the accounts limit with them. On B, step
// 2 creates it for a saga whose step 1 was created, so for a client that may debit an
// account of that ledger on A. On A, S(A→B, L) gets the credits of step 1; on B, the
// same id gets the debits of step 2. Each shard's ledger balances on its own, so for every
// ledger Σ debits = Σ credits over all shards at all times; a pair's net
// (credits posted on A − debits posted on B) is zero whenever none of its sagas is between
// steps 2 and 3, and B's debits never exceed A's credits (pending + posted) because B
// only hears of a saga once step 1 is durable.
//
// Messages between shards are not state: they are derived from logged state and released
// with the entry that implied them (like replies: only once durable and acknowledged),
// and re-derived after any restart from the debit shard's saga table (saga_outbox, a read
// released after durability). The debit shard drives: it re-sends the credit message of
// every saga still waiting (after SagaResendAfter) until the decision arrives, and B
// answers every copy from its decision table. All three steps carry ids derived from the
// saga's (shard, sequence), so every receiver deduplicates with the ledger's own
// idempotency and the decision table. The transport may delay, duplicate, reorder or drop
// messages and any shard may restart at any point: a late copy of a message finds its step
// done and changes nothing. B forgets decisions below a watermark that A sends once every
// saga below it is final and durable on A (saga_forget), and answers any later copy of a
// credit message below that watermark from its ledger, which keeps step 2's transfer
// C(A, seq) for good: created (and crediting the message's account) means credited, else
// refused with saga_decision_unknown. A ignores the answer when the saga is final; it
// finishes a saga that a failover left running on A (async or degraded replication: the
// watermark left A on A's own durability) after B forgot it.
//
// Saga numbers are unique within one history of A's log, not across failovers: each
// shard replicates its own log, so in async or degraded mode a promoted standby may hold
// B's step 2 of a saga whose step 1 it lacks, and A then numbers its next saga as the
// lost one. B's decisions therefore carry the client's transfer id, and B answers a
// credit message whose number holds another transfer's decision with
// saga_decision_unknown (never recorded; the saga is voided, nothing moves) instead of that
// decision. The lost saga's credit stays with B: it is part of the failover's loss
// window, and shows as the pair's net (reconcile).
//
// # Why the saga timeout asks instead of expiring
//
// A saga whose credit message has not been decided after SagaTimeout (from the later of
// step 1 and the first answer to the debit shard's outbox poll after the router's start:
// the time the node was down, or waited for its standby, does not count; from step 1
// alone on a node that started as a standby, Config.StartedAsStandby, since a failover
// may have lost an abort already answered) is not voided by A
// alone: B may have credited b and the answer may be lost, and a unilateral void would
// then create money. Instead A's credit messages turn into abort requests: B decides
// "refused: saga_timed_out" if it has not decided yet (and answers its earlier decision
// otherwise), and A finishes with whatever B decided. The timeout bounds how long a slow or
// backlogged credit shard holds the debit's funds; a credit shard that never answers
// (gone for good) leaves its sagas in flight, reported with their age (reconcile), because
// only it can say whether the credit happened.
//
// # Decisions (documented in PROTOCOL.md in phase 2 as well)
//
//   - Linked chains across shards: refused (linked_chain_spans_shards), see Requests.
//   - Two-phase transfers across shards (pending, and so closing flags): refused with
//     pending_transfer_spans_shards. Supporting them needs a second saga at resolution
//     (post/void on A, then on B) and an expiry that A decides and B follows; the messages
//     and ids above extend to it, but it doubles the states and is left for later. A post
//     or void is always local (its pending transfer is).
//   - Precedence: a cross-shard transfer gets the same result codes as a local one when at
//     most one side fails. When both would fail, the debit shard's code wins (it is checked
//     first and the credit shard is never asked). One more difference: when the debit
//     account's ledger differs from the transfer's, the answer is
//     accounts_must_have_the_same_ledger even when the credit account shares the debit
//     account's ledger (a local transfer would say transfer_must_have_the_same_ledger_as_
//     accounts); the debit shard cannot see the credit account.
//   - Idempotency: the transfer id X is the id of step 1 on A, so A's ledger keeps it
//     unique among A's transfers; a retry of X (any session) gets exists,
//     exists_with_different_*, id_already_failed or the same failure, as a local transfer
//     would. One difference: once the credit shard refused X, the id stays taken, so a
//     retry with other fields gets id_already_failed (after a transient refusal or a
//     timeout) or the same code, where a local transfer would be evaluated again. Transfer ids are unique per shard, not across shards (no global index): a
//     client must not reuse an id for a transfer whose debit account is on another shard.
//   - Visibility: lookup_transfers(X) finds a cross-shard transfer once it is posted, as the
//     client created it (debit a, credit b, the amount credited); get_account_transfers
//     lists the steps as each shard's ledger holds them (step 1 with the settlement account
//     as credit, its post, and the credit on B).
//
// # Goroutines (this package)
//
// Each shard's sequencer goroutine calls the router when it releases an entry (replies,
// saga messages); network event loops call Submit; one ticker goroutine drives resends and
// busy retries. The router is one mutex-guarded state machine; it never blocks (rings
// answer busy at once) and calls the transport and the client replier only after
// unlocking. Shard-local pass-through replies do not take the router's lock.
package node
