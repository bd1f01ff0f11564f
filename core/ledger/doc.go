// Package ledger is Sequent's double-entry ledger: accounts, transfers, two-phase
// (pending → post or void, with timeouts), linked chains, idempotent retries and balance
// history, modelled on TigerBeetle's public data model (our own code).
//
// # Ownership and determinism
//
// One goroutine (a shard's sequencer) owns a Ledger and calls every method. Nothing here
// reads a clock, starts a goroutine or does I/O: every batch carries its timestamp. The
// only other goroutines that see a ledger's memory are a SnapshotView's reader and a
// Populater's, which faults fresh ranges in without reading or writing them (FreshRange). The same
// batches with the same timestamps give byte-identical state (Digest) and results.
//
// # Storage
//
// Records live in chunked arrays of 65,536 (they never move; growth allocates one chunk at
// a time) and are found through open-addressing id tables whose 8-byte slots hold a hash
// tag and the record index. Per account: the 128-byte record (in memory accountRecord,
// model.Account's fields reordered so that a plain transfer between accounts without
// pending balances reads and writes only its first cache line, with an in-memory bit
// saying that both pending balances are zero; record.go), whose reserved field holds the
// index of its newest transfer, its 4-byte owner index, for an account a client created a
// 4-byte entry in that client's list of accounts (what get_ledger_totals sums for it),
// and ~16 bytes of table; only for an account with a reservation (Reservations, below),
// a 24-byte slot of the sparse table of reserved totals, at most half full and never
// shrinking (48 bytes or more per such account; reservedtable.go); per ledger, its
// running trial balance (totals.go). Per transfer: the 128-byte record, 8 bytes of
// backward links (one per account), 1 byte of pending status and 16-32 bytes of table;
// for an active pending transfer with a timeout, a 16-byte item of the expiry heap, and
// 4 bytes of heap position per transfer in each range of 4,096 transfers that holds one
// (expiry.go).
// Past the capacity it was sized for, a table grows without a pause: it prepares
// (allocates and faults in) its successor a little per insert, then drains into it 8
// slots per insert (see idTable), so the worst batch while growing from 2 M to 33 M transfers is ~20-30 ms
// instead of the seconds a stop-the-world rehash took (BenchmarkGrowth).
// create_transfers resolves the ids of a batch a few events ahead (8-12) of applying the
// events in order, prefetching the slots and records they need (a software pipeline, see
// CreateTransfersAs). Its first two stages also serve a caller that knows the transfers of
// its next calls (PrefetchTransferSlots, PrefetchTransferRecords): the state machine, for
// the one-transfer requests of a log entry.
//
// Fresh memory is faulted in by the kernel on first touch (~1.5-4 µs per 4 KiB page
// here), which the sequencer paid for every chunk allocated past the capacity and for a
// growing table's successor. With a Populater attached (SetPopulater; the shard runtime
// owns one, with its own goroutine), the arrays a transfer appends to keep their next
// chunk allocated ahead (one spare each: at most freshChunkBytesAheadMax, ~14.1 MiB, in
// all) and offer it, and a growing id table offers its successor; the populater faults
// them in without writing a byte (MADV_POPULATE_WRITE), and the table's own per-insert
// touching skips what it has done. An offer is taken or refused at once, never waited
// for; what is refused or not reached in time faults in on the sequencer as before.
// Nothing of this is state: the same batches give the same Digest with or without it.
//
// # Invariants (checked by tests after every batch, and by Restore)
//
//   - For every ledger: Σ debits_posted = Σ credits_posted and Σ debits_pending =
//     Σ credits_pending over its accounts.
//   - No account breaks its balance flags; pending + posted never overflows 128 bits.
//   - A transfer id is applied at most once, ever; an id that failed for a transient reason
//     (Status.Transient) answers id_already_failed forever.
//
// # Linked chains
//
// A chain is a run of events with the linked flag, ended by the first event without it.
// It is atomic: on the first failure every change of the chain is undone, the failing
// event keeps its status and all other events of the chain get linked_event_failed (events
// after the failure are not evaluated). A batch ending inside a chain fails the chain with
// linked_event_chain_open on its last event. exists counts as success inside a chain, so a
// retried chain that had succeeded answers exists for each event. A transient failure is
// remembered even when its chain is rolled back.
//
// # Precedence of create_accounts results (first that applies wins)
//
//	linked_event_failed, linked_event_chain_open (chain handling, above)
//	timestamp_must_be_zero, reserved_field, reserved_flag,
//	id_must_not_be_zero, id_must_not_be_int_max, id_reserved (bit 127 set: system range),
//	exists_with_different_owner (another client created it: nothing else is compared),
//	exists_with_different_flags (the closed bit is not compared), _user_data_128,
//	_user_data_64, _user_data_32, _ledger, _code, exists,
//	flags_are_mutually_exclusive (both balance limits), debits_pending_must_be_zero,
//	debits_posted_must_be_zero, credits_pending_must_be_zero, credits_posted_must_be_zero,
//	ledger_must_not_be_zero, code_must_not_be_zero,
//	debits_must_not_exceed_credits_required (a client without a transfer grant over the
//	account, creating one without that flag), accounts_limit_reached,
//	accounts_limit_per_client_reached (the creating client owns its limit's accounts_max
//	accounts already; SetAccountLimits)
//
// The per-client bound comes right after the ledger's: it is checked only where the
// account would otherwise be created, so it never changes the answer to an event that
// was refused before limits existed (at the ledger's bound too, the answer stays
// accounts_limit_reached, which tells the client that waiting for its own accounts to go
// will not help); and a retry of the client's own account answers exists, which comes
// earlier, whatever it owns.
//
// # Precedence of create_transfers results
//
//	linked_event_failed, linked_event_chain_open
//	timestamp_must_be_zero, reserved_flag, reserved_flag_from_reservation (the flag only
//	the matching engine sets), id_must_not_be_zero, id_must_not_be_int_max,
//	id_reserved (the id, either account id or the pending id in the system range)
//	exists_with_different_owner (the caller may read neither account of the existing
//	transfer: nothing else is compared)
//	exists_with_different_flags, _pending_id, _timeout, _debit_account_id,
//	_credit_account_id, _amount, _user_data_128, _user_data_64, _user_data_32, _ledger,
//	_code, exists            (for a post/void, zero fields of the retry match anything
//	                         but a post's amount: 0 posts nothing)
//	id_already_failed
//
// then for a single-phase or pending transfer:
//
//	debit_account_id_must_not_be_zero, _int_max, credit_account_id_must_not_be_zero,
//	_int_max, accounts_must_be_different, pending_id_must_be_zero,
//	timeout_reserved_for_pending_transfer, closing_transfer_must_be_pending,
//	ledger_must_not_be_zero, code_must_not_be_zero,
//	debit_account_not_found, credit_account_not_found,
//	debit_account_not_owned, credit_account_not_owned (closing_credit or
//	balancing_credit only),
//	accounts_must_have_the_same_ledger, transfer_must_have_the_same_ledger_as_accounts,
//	debit_account_already_closed, credit_account_already_closed,
//	(balancing flags clamp the amount here)
//	the risk rules (risk.go and package core/risk: risk_debit_account_blocked …
//	risk_anomaly; a hold turns the transfer pending here, a pending one keeping its
//	client's timeout; with SetRuleOnlyWhenHeld the holding rule's id goes into the
//	result only once the transfer is created held, not beside a refusal below),
//	for a client that is not an operator: overflows_debits_pending (pending only),
//	overflows_debits_posted, overflows_debits, exceeds_credits (its own side first;
//	with SetIssuingChecked also on an account without the flag, for a client without the
//	right to issue there: see "Issuing money")
//	overflows_debits_pending, overflows_credits_pending (pending only),
//	overflows_debits_posted, overflows_credits_posted, overflows_debits, overflows_credits,
//	overflows_timeout, exceeds_credits, exceeds_debits, transfers_limit_reached
//
// or for a post or void of a pending transfer:
//
//	flags_are_mutually_exclusive (post with void, or with pending, balancing or closing),
//	pending_id_must_not_be_zero, pending_id_must_not_be_int_max,
//	pending_id_must_be_different, timeout_reserved_for_pending_transfer,
//	pending_transfer_not_found, pending_transfer_not_owned,
//	id_reserved (a client resolving a pending transfer that moves a system account: the
//	first step of a cross-shard transfer, which only its saga resolves),
//	pending_transfer_not_pending,
//	pending_transfer_has_different_debit_account_id, _credit_account_id, _ledger, _code,
//	exceeds_pending_transfer_amount (post above the pending amount),
//	pending_transfer_has_different_amount (void with an amount other than 0, the pending
//	amount or 2^128-1), pending_transfer_already_posted, pending_transfer_already_voided,
//	pending_transfer_expired (swept, or overdue at this timestamp),
//	(post only) risk_review_required (a held transfer, posted by a non-operator),
//	risk_debit_account_blocked, risk_credit_account_blocked, risk_client_blocked,
//	debit_account_already_closed, credit_account_already_closed (post only; the transfer
//	that closed an account may still be posted), overflows_debits_posted,
//	overflows_credits_posted, transfers_limit_reached
//
// # Ownership
//
// Any authenticated client may call the ledger's operations (the network layer checks
// the coarse permissions: read, transfer, trade, admin); which money it may touch is
// decided here, from inputs that are in the log, so a replay and the standby decide alike.
//
//   - Owners. Every account records the client whose request created it
//     (CreateAccountsAs; the "As" functions take the authenticated client id from the
//     logged request). The system, client 0, owns the matching engine's accounts and
//     whatever is created through the functions without "As" (tests, tools).
//   - Grants. SetGrants puts a table from the keys file in force (logged as the internal
//     set_grants request; see package core). A grant gives one client scopes (read,
//     transfer, trade) over the accounts of a ledger and/or an id range; a grant with the
//     operator scope covers everything, every client's orders included. An owner has
//     every scope over its own accounts; transfer and trade include read.
//   - Transfers. A client may debit only accounts it owns or holds a transfer grant on
//     (debit_account_not_owned). Paying into any existing account needs no right over it
//     (paying someone is not touching their money), except a closing_credit or
//     balancing_credit transfer, which closes the credit account or clamps the amount to
//     its balance (credit_account_not_owned). A post or void needs a transfer right over
//     either account of the pending transfer (pending_transfer_not_owned): the payer
//     reserved the funds, and the payee was promised them; a post moves no more than was
//     reserved, to no one but the payee, and a void only gives the payer its funds back.
//   - Issuing money. An account without debits_must_not_exceed_credits can go negative:
//     whoever may debit it creates money on its ledger (the double entry balances, but
//     the credit side can then be spent, paid to others, or used to fund orders that buy
//     other clients' assets). So a client may create such an account only with a transfer
//     grant covering it (the operator's say-so that it may move money there); otherwise
//     debits_must_not_exceed_credits_required. The system and operators create any kind
//     (banks, the matching engine's escrows). With SetIssuingChecked (package core, rules
//     version 6 on) the right is also needed at the time of each debit that issues: the
//     part of a client's debit that would take such an account's debits (pending and
//     posted, and the amount) above its credits posted needs the operator scope or a
//     transfer grant covering the account (mayIssue), else exceeds_credits, where the
//     flag's code stands; so an account created under a grant stops issuing when the
//     grant is withdrawn (before, the right was checked at creation only). A debit within
//     the credits, the system's, and a post (it adds no debits: its pending's were
//     counted when that was created) are not affected; a linked chain's events are
//     judged one by one on the balances its earlier events left; the first step of a
//     cross-shard transfer is the client's own pending debit and is judged alike, and
//     so is a reservation the matching engine makes for a client (ReserveFor: an
//     order's hold, a replace's raise of one; the engine answers insufficient_funds),
//     except that one the account cannot cover (a debits sum beyond 128 bits counts as
//     not covered) is refused exceeds_credits before the closed and overflow checks,
//     with the flag or without the right alike: the order's documented precedence, and
//     no answer that depends on the escrow's sum of other clients' holds.
//   - Ids. A create_accounts event whose id is another client's account answers
//     exists_with_different_owner (exists means "you created this"); a transfer id the
//     caller may not see (it may read neither account) answers the same, before any field
//     is compared, so that no field of someone else's transfer can be tested for.
//   - Reads. An account the caller may not read is answered as if it did not exist:
//     lookups skip it, queries answer account_not_found, ledger totals leave it out of
//     the sums. A transfer is visible when the caller may read its debit or its credit
//     account. A created transfer's result shows the balances only of the accounts the
//     caller may read (zeros otherwise). The credit account's overflow checks depend on
//     its balances, so a client that is not an operator gets the checks of its own
//     (debit) side first: an amount it cannot afford answers exceeds_credits whatever
//     the credit account holds (else a binary search over the amount, with transfers
//     that are all refused, would read the payee's credits).
//   - Account limits. SetAccountLimits puts the keys file's per-client bounds in force
//     (limits.accounts_max, logged in the same set_grants request as the grants, from
//     rules version 3 on; see package core): a client may create accounts only while it
//     owns fewer than its bound (accounts_limit_per_client_reached), so that one client
//     cannot take every account the ledger's AccountsMax leaves to all. Only accounts it
//     created count (its owned list: undone with a rolled-back chain, rebuilt by
//     Restore); the system, client 0, has no bound, and neither has a client without a
//     limit, operators included (an operator with a limit is bounded like any client:
//     the keys file said so). A lowered bound removes nothing.
//   - The new refusals are transient (Status.Transient): a grant may come later, so a
//     refused id answers id_already_failed from then on, as for a missing account.
//
// Why reads say "not found" rather than a code of their own: a lookup carries no status
// per id, so skipping is the only answer it can give, and queries answer alike so that
// one rule holds for every read ("you see only what you may see"). Existence itself is
// not secret in Sequent — any client may pay into an existing account, and the answer
// to that (credit_account_not_found or not) tells whether it exists — so the write
// refusals name the reason (debit_account_not_owned and the like) for the client's sake,
// after the existence checks; but balances, history and fields are never shown.
//
// The owner is a side table indexed like the accounts (a 4-byte index into a
// dictionary of client ids; the 128-byte record has no room left: its reserved field
// holds the newest-transfer link, its first line is full), snapshotted as the
// client id and part of the digest. The debit account's owner is prefetched with the
// record a block ahead, so the check costs one compare on the hot path; a grant
// is scanned (at most model.GrantsPerClientMax) only when the caller is not the owner.
//
// # System ids
//
// Ids with bit 127 set (model.IsSystemID) belong to Sequent itself: the matching engine's
// escrow and fee accounts, its holds and its settlements, created through
// CreateSystemAccounts and CreateSystemTransfers. Client events may neither use such an id
// nor touch such an account or pending transfer (id_reserved), so no client can debit an
// escrow account or void someone else's order hold.
//
// CreateSagaTransfers serves the steps of cross-shard transfers (core/saga): step 1 keeps
// the client's transfer id (so the id stays unique on the debit shard and a retry is
// answered as for a local transfer) while crediting a system settlement account, which is
// why a client may not post or void a pending transfer that touches a system account; and
// the post or void that ends a saga is never refused for a closed account or the
// transfers limit, because the credit shard has already decided (a ledger so holds up to
// the sagas in flight more than TransfersMax, and its snapshot restores: TransfersMax
// refuses new transfers, it does not bound what Restore reads). CheckNewTransfer and
// CompareTransfers let core give a cross-shard transfer the same codes as a local one.
// Two variants spare the steps lookups that the saga's knowledge makes redundant, with
// the same results: CreateSagaCredits (step 2) hides the credit account's balances from
// the sending client who may not read it, from the account the batch resolved, and
// CreateSagaFinishes (step 3) takes where each pending transfer is stored (checked
// against its id); a post naming its pending transfer's accounts takes them from the
// batch's stages.
//
// # Reservations
//
// The matching engine holds an order's funds as a reservation (reservation.go), not as
// a stored pending transfer: a system-only event of CreateSystemTransfers (flag
// SystemReserve or SystemRelease, inside the engine's linked chains) that moves the
// trader account's debits_pending and the escrow's credits_pending by an amount, with
// the checks and codes a pending transfer of that amount would get when reserving (and,
// for a reservation made for a client, ReserveFor: the issuing check that client's own
// debit would get, with SetIssuingChecked), an undo record for chain rollback, and
// nothing else: no transfer record, no id, no
// balance-history entry, no change event. A fill is a stored single-phase transfer with
// the flag from_reservation (model.TransferFromReservation; clients get
// reserved_flag_from_reservation): it releases its amount on both accounts, then posts
// it. The ledger keeps the reserved total of each account that has one in a sparse
// table keyed by account index (reservedTotals: no entry means nothing reserved, so
// the accounts that never trade pay nothing for it; snapshotted since version 3; only
// reservation events, their undo and Restore change it, and a plain transfer never
// reads it), so that every account's debits_pending = its active pending transfers +
// its reserved total, and per ledger the credits_pending no pending transfer explains
// equal the reserved totals (CheckReservations, run by Restore and the tests, which also
// checks the table). A lone reservation change (the engine's place, bid move or cancel)
// may instead go through ChangeSystemReservationAt, which gives the same status and state
// without the batch machinery (TestChangeSystemReservationMatchesBatch); it is told
// where the two accounts were last found (the engine keeps that per order and per
// instrument, from AccountTermsPlacedAs and earlier answers; IndexUnknown when not
// known; AccountTermsPlacedAs, the funding checks of a new order, is told places too) and
// trusts a place only when the record there has the account's id, so a wrong or stale
// place costs the lookup, never a different result (accounts are never removed; an
// undone creation drops the newest records, which the count bounds). The engine's
// longer chains (a fill's) go through CreateSystemTransfersAt, told the places of every
// event's accounts the same way: the same statuses, state and events as
// CreateSystemTransfers, without its pipeline stages and without balances in the results
// (TestSystemTransfersAtMatchesBatch).
// A system void (the engine ending a legacy hold: an order restored from before
// reservations) is not refused for the transfers limit, as a release stores nothing:
// a cancel must always end an order.
//
// # Differences from TigerBeetle worth knowing
//
// No imported events (their flag bits are reserved). exists does not break a linked chain.
// A void's amount may be 0, the pending amount or 2^128-1. Capacity limits answer
// accounts_limit_reached and transfers_limit_reached. Expiry releases pending amounts but
// writes no balance-history entry. Clients connect directly, so who created an account
// matters (Ownership, above): a client may create only debit-limited accounts unless a
// grant allows more, and its own side of a transfer is checked before the payee's.
package ledger
