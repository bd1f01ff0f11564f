// Package match is Sequent's matching engine: order books between two ledgers (assets)
// whose trades settle as ledger transfers in the same step, with the ledger's
// determinism, result codes and fixed-size records.
//
// # Role and ownership
//
// An Engine shares the shard's ledger.Ledger with the rest of the state machine (package
// core) and is owned, like it, by the shard's sequencer goroutine, which calls every
// method. Nothing here reads a clock, starts a goroutine, does I/O, uses floats or ranges
// over a map. Time arrives as a clock: a pointer to the last timestamp used on the
// machine. Each order command takes the next timestamp for itself, and every ledger batch
// the engine issues takes one per event after it, so every ledger object's timestamp is
// unique and increasing. The only method meant for another goroutine is
// SnapshotView.WriteTo.
//
// Write methods apply the events of one client request in order, on behalf of the
// authenticated client: CreateInstruments, PlaceOrders, CancelOrders, ReplaceOrders,
// MassCancel; CancelAllForClient (cancel-on-disconnect, an internal request) and Expire
// (at the start of every log entry). Each event gets one fixed-size result; execution
// reports (to the owner of each order concerned) and market data go to a Sink as they
// happen. Queries are read-only: LookupInstruments, LookupOrders, AccountOrders, Depth.
//
// # Units
//
// Quantities are in base-ledger amount units and are multiples of the instrument's lot
// size. Prices are in quote-ledger amount units per lot and are multiples of its tick
// size. A fill of quantity q at price p moves q base units one way and p × q / lot quote
// units (its notional, exact) the other way. All arithmetic is on integers; products are
// 128-bit (model.Uint128).
//
// # Funds
//
// Creating an instrument creates two system accounts (ids in the ledger's system range,
// derived from the instrument id; see settle.go): the base escrow and the quote escrow,
// whose debits may never exceed their credits.
//
//   - Placing an order holds what it needs as a ledger reservation (package ledger,
//     "Reservations": the trader's paying account's debits_pending and the escrow's
//     credits_pending rise, with no transfer record): a limit buy its reserve price
//     (default: its price) × quantity / lot in quote, a market buy its budget, a sell its
//     quantity in base. A reservation the ledger refuses (exceeds_credits) rejects the
//     order: insufficient_funds. A place's reservation, and a replace's that raises the
//     amount held, are made for the order's client (ledger.ReserveFor), so from rules
//     version 6 one that would take a paying account without
//     debits_must_not_exceed_credits above its credits needs that client's right to
//     issue money there, as its own debit would; the reservations of fills and of the
//     engine's own moves are the system's.
//   - Each matching step settles as one linked chain: the reservations of the orders it
//     ends without trading are released; what the taker pays, and each maker, is one
//     transfer trader → escrow with the flag from_reservation (it lowers the reservation
//     by its amount and posts it), followed by the release of whatever the order's rest
//     no longer needs (a buy reserved above the trade price, or an order that is done);
//     then the escrows pay each side what it receives, minus its fee, and the fees to the
//     instrument's fee accounts. Payments into the escrows come before its payouts, so
//     escrows never dip. Every fill is a stored ledger transfer; holds are not.
//   - Cancel, expiry and the unfilled rest of IOC, FOK and market orders release what
//     remains reserved.
//   - Orders restored from a snapshot older than reservations (version 2) hold a pending
//     system transfer instead (a legacy hold, holdSequence): it is posted (for what was
//     paid; the rest is released) or voided as before, and a replace or partial fill that
//     changes what it needs turns it into a reservation (settle.go, holdReserved).
//
// So after every command an escrow's pending credits equal the sum of its instrument's
// open reservations and legacy holds, its posted credits equal its posted debits, and
// each trader account's reserved total in the ledger is the sum of its open orders'
// reservations (so its debits_pending = its pending transfers + that sum)
// (CheckInvariants).
//
// # Fees
//
// Each side pays its fee (maker or taker basis points of the instrument) in what it
// receives: a buyer in base, a seller in quote. Per fill, fee = floor(received ×
// basis points / 10,000); the trader gets received − fee and the fee account gets fee.
// Rounding down favours the trader by less than one unit per fill; no unit is created
// or destroyed. The taker's fees of one step are summed (each rounded per fill) and paid
// in one transfer. If a fee account refuses a fee (it was closed), fees are waived for
// the rest of that command.
//
// # Matching
//
// Price-time priority: the best price first, and within a price the order that has
// waited longest. Trades happen at the resting (maker) order's price. The book never
// rests crossed: an incoming order trades while it crosses, then rests (GTC, post-only)
// or ends (IOC, FOK, market). Post-only orders that would cross are rejected. Market
// orders are always bounded: a worst price (Price), and for buys a quote budget. FOK
// executes completely in one step or not at all (no fill, no self-trade cancel).
//
// A step is planned on the unchanged book, settled in the ledger, then applied. If the
// ledger refuses an event of the chain (a resting order's account was closed since it
// rested, say), it undoes the whole chain; the engine cancels the culprit (reason
// canceled_account) or waives fees, and plans again. A step has at most FillsPerStepMax
// fills; a larger order continues in further steps, each consistent on its own. From
// core's rules version 8 (SetRefusalShrinksSteps) the step planned after a resting order
// was refused has at most the fills before that order's and half the refused step's,
// and each applied step doubles the bound back to FillsPerStepMax (matchTaker), so the
// ledger events an incoming order costs grow linearly with the resting orders it meets;
// before it each refused order cost a chain of up to FillsPerStepMax fills built and
// undone (4,000 of them: 9.2 M ledger events in one command). The same orders trade and
// are canceled (unless the incoming order's own settlement or a fee is refused too); the
// steps, and so the order of a step's reports, differ. When the incoming order's own
// settlement is refused, it ends (canceled_account); from version 8 the resting orders
// refused before it and not yet canceled by an applied step end first (refusedEnd; a
// fill-or-kill's also those it counted as refused),
// where before they stayed resting until another order met them. A fill-or-kill keeps one step;
// after its first refusal it plans every resting order with a closed ledger account that
// its fills move funds of as refused (the ledger would refuse any fill with it; not the
// account it is paid into when a maker fee of FeeBasisPointsMax pays it nothing) instead
// of finding them one chain each.
//
// Self-trade prevention applies between orders of the same client and trading account:
// cancel newest (the incoming order's rest; the default), cancel oldest (the resting
// order, then matching goes on) or cancel both, chosen by the incoming order.
//
// Cancel-replace keeps the order id. Reducing the quantity at the same price keeps time
// priority; changing the price or raising the quantity loses it (the order goes to the
// back of its new level, trading first if the new price crosses). A replace moves the
// reservation by the difference (one ledger event) only when the amount needed changes;
// a refused increase leaves the order unchanged. A resting good-till-time order expires when an
// entry's timestamp reaches its deadline (Expire); an overdue order that Expire has not
// swept yet never trades: matching cancels it as expired.
//
// # Idempotency
//
// Every order command carries a client order id, unique per (client, trading account).
// The outcome of the most recent ClientOrderIDsMax commands of all clients is remembered
// (every remembered command counts, an opted-in account's below too), with a 64-bit
// digest of the command's other fields (every field of the event but the key: window.go):
// a resend with the same key, kind and fields answers the original result and changes
// nothing (no new reports); the same key with another kind of command answers
// client_order_id_reused, with the same kind but any other field different
// client_order_id_exists_with_different_fields (a mistake, not a resend: nothing is
// placed, and the client can tell). A command whose key itself is invalid (zero) is not
// remembered. Keys are compared only within the window: a key older than
// ClientOrderIDsMax commands is new again.
//
// Increasing client order ids (opt-in, increasing.go). A place event with the flag
// OrderFlagClientOrderIDsIncreasing (byte 104, once reserved) opts its (client, trading
// account) in when it is accepted (a refused one, say with other reserved bits set, is
// remembered in the window as any other command and opts nothing in); the opt-in is kept
// for good and is part of the replicated state (the engine's snapshot),
// so a replay or a replica decides every later command of the account the same way. From
// then on that account's commands never use the window: each new key must be above the
// account's mark (the highest key it used since opting in; gaps are allowed), and its
// last Config.ClientOrderIDsPerAccount commands (64 by default) are remembered in a ring
// of its own, in key order. A key at or below the mark answers from the ring exactly as
// the window would (original result, client_order_id_reused,
// client_order_id_exists_with_different_fields), or, when it is not among them,
// client_order_id_not_increasing: refused, reported and not remembered. Cancels by
// client order id look in the ring. The account's commands from before its opt-in stay
// in the window until it forgets them: until the window's newest entry at the opt-in is
// forgotten, at most ClientOrderIDsMax remembered commands later (a count the snapshot
// carries as what is left of it), a key of the account missing from its ring is also
// looked up in the window, and one found there answers as the window would, above the
// mark or not (so a command sent before the opt-in and resent after it is neither
// applied twice nor refused, and an order placed before it is still found by its client
// order id). After that, only the ring counts. No command of an opted-in account is
// remembered in the window, so a key found there is one of those; each still ages the
// window by one as a window command would (rules version 4: it takes a slot without a
// key, window.go), so the window's keys are forgotten after ClientOrderIDsMax commands
// whoever sends them, and the span ends even when only opted-in accounts send commands;
// once no window key is left, an opted-in command costs the window one branch. A
// trading account shared by several sessions must share one counter. At most
// IncreasingAccountsMax accounts opt in, and (SetIncreasingShareChecked; core turns it
// on from its rules version 6) at most IncreasingAccountsPerClientMax of one client's,
// the system's and operators' excepted, since an opt-in is kept for good and one client
// could otherwise take the whole table: beyond either, an opting place with a new key is
// refused with accounts_limit_reached and not remembered (a remembered key answers as
// remembered), and the account keeps the window. The count per client is derived from
// the opted-in accounts (increasingByClient), which the snapshot carries, so a restored
// engine bounds each client as the one that wrote it. Accounts
// that never opt in (every client written before the flag) see exactly the window's
// rules, and never any of these statuses.
//
// The flags byte is read only when the owner says so (SetOrderFlagsAccepted; core turns
// it on from its rules version 4): for a log written before the flags existed it stays
// reserved, and a place with it set is refused with reserved_field as it was then.
//
// Why a flag on the place event rather than an account or instrument option: the trading
// account is a number chosen by the client, not a ledger account, and is never created,
// so it has no record that could carry a flag; an instrument option does not fit a key
// space that spans every instrument of the account (a cancel names no instrument).
// The place event is the one command with spare bytes, and every trading account starts
// with a place (cancels and replaces name an order it placed).
//
// # Ownership
//
// Orders belong to the client that placed them (the authenticated client id of the
// request). An order's two ledger accounts must both be ones the client may trade from:
// its own (it created them) or covered by a trade grant (ledger.Ledger.AccountAs; see
// package ledger, "Ownership"), else base_account_not_owned or quote_account_not_owned —
// the paying account is held, the receiving one is paid into, and an order must not be a
// way round the ledger's rules. Cancel, replace, mass cancel and the order queries see
// only the caller's own orders: another client's order is order_not_found (as if it were
// not open: order ids are sequential and public, whether an order rests is not), except
// for an operator, which may cancel any order by its id and look any order up (reports
// still go to the order's owner). A grant withdrawn later does not cancel resting
// orders; their owner (or an operator) cancels them. A replace commits the order's
// paying account anew, so it needs the trade right over it again (replaceFundingStatus,
// from core's rules version 6): the client that placed an order under a grant withdrawn
// since may cancel it but not grow or reprice it.
//
// # Precedence of place_orders results (first that applies wins)
//
//	client_order_id_must_not_be_zero, account_must_not_be_zero, (an opted-in account's
//	key at or below its mark, not in its ring nor left in the window from before its
//	opt-in: client_order_id_not_increasing), (key in the window, or in the opted-in
//	account's ring: client_order_id_reused,
//	client_order_id_exists_with_different_fields, or the original result), (a new key
//	opting in beyond IncreasingAccountsMax or its client's IncreasingAccountsPerClientMax:
//	accounts_limit_reached),
//	timestamp_must_be_zero, reserved_field (also an unknown flag bit), instrument_not_found, side_invalid,
//	order_type_invalid, time_in_force_invalid (unknown, or GTC/post-only for a market
//	order), self_trade_mode_invalid, price_must_not_be_zero, price_not_on_tick,
//	quantity_not_on_lot, quantity_below_minimum, quantity_above_maximum,
//	reserve_price_invalid, budget_invalid, expire_timestamp_invalid,
//	account_id_reserved, base_account_not_found, base_account_not_owned,
//	base_account_ledger_invalid, quote_account_not_found, quote_account_not_owned,
//	quote_account_ledger_invalid, account_closed,
//	account_flags_invalid (credits limit on the receiving account),
//	orders_limit_reached (resting kinds: the table full, or the client's share of it
//	kept, SetOrdersShareChecked), post_only_would_cross,
//	insufficient_funds, account_closed, hold_amount_overflow (the ledger's answer to the
//	reservation; in this order from rules version 6, where the ledger judges a client's
//	hold on the paying account alone first; before, the ledger's order was
//	account_closed, hold_amount_overflow, insufficient_funds)
//
// The key checks of every order command are the first two, then (an opted-in account)
// client_order_id_not_increasing, then the resend answers.
//
// cancel_orders: the key checks, then order_not_found (not open, not the caller's and
// the caller no operator, or an unknown original client order id). replace_orders: the key checks, reserved_field,
// order_not_found (also when overdue), the paying account's trade right
// (base_account_not_owned for a sell, quote_account_not_owned for a buy; rules version 6
// on), price_must_not_be_zero, price_not_on_tick,
// quantity_not_on_lot, quantity_below_minimum, quantity_above_maximum (of the new total),
// replace_quantity_invalid (not above the filled quantity), reserve_price_invalid,
// post_only_would_cross, then the new hold's refusal (only when the amount needed
// changes; a reserved order's lower amount is a release, never refused, so it passes on
// a closed paying account, while a legacy order's voids and reserves anew and gets
// account_closed: TestReplaceOnClosedPayingAccountByHoldKind; from rules version 6 a
// raise the client cannot afford gets insufficient_funds first, reserved or legacy:
// TestClosedPayingAccountRaiseByHoldKind). mass_cancel: the key checks,
// reserved_field, side_invalid, instrument_not_found. create_instruments:
// timestamp_must_be_zero, reserved_field, reserved_flag_instrument,
// instrument_id_must_not_be_zero, instrument_exists_with_differences, exists,
// instruments_limit_reached, ledger_must_not_be_zero, ledgers_must_be_different,
// tick_size_must_not_be_zero, lot_size_must_not_be_zero, quantity_limits_invalid,
// fee_invalid, fee_account_invalid, accounts_limit_reached.
//
// # Each client's share of the open orders
//
// Open orders are bounded per shard (Config.OrdersMax), and the table is shared by every
// client. From core's rules version 7 (SetOrdersShareChecked) a client may keep at most
// Config.OrdersPerClientMax of them (a sixteenth of the table by default,
// OrdersPerClientDivisor), the system and operators excepted: beyond, a place of an order
// that could rest is refused orders_limit_reached, checked where the full table is
// (placeOrder), so one client cannot shut every other client's resting orders out. A
// replace never adds an open order, so it is never refused for it. The counts derive
// from the open orders alone (orderRest and orderClose keep them, whatever closes the
// order: fill, cancel, mass cancel, cancel-on-disconnect, expiry, self-trade prevention,
// a replace that trades it out); Restore rebuilds them, the snapshot does not carry them.
// Below the rules version the bound is the table's alone, as the builds before applied
// it. Entries are kept only from the first time the open orders come within one order of
// a share (share.go), so a shard far from any share pays one test per rest and close.
//
// # Data structures
//
// Orders live in a pool (slice of structs recycled through a free list; indexes, not
// pointers). The price levels of each side of a book (pooled too) are threaded into a
// best-to-worst list (O(1) best price and next level while matching) and indexed by a
// price ladder near the top of the book (ladder.go: an array over ladderTicks ticks and
// a bitmap of the occupied ones, so finding a level or a new level's neighbours costs an
// array read and a few bitmap words) and by an AVL tree beyond it (O(log levels)); each
// level is an intrusive FIFO of orders (O(1) cancel). A moved order outside the ladder
// finds its new level by a short walk of the list from its old one before falling back
// to the tree, and an order alone at its level moved to a free price between the same
// neighbours re-prices the level in place. An open-addressing hash index (8-byte
// slots: tag and index; see table.go) maps order ids to slots and (client, account) to
// the list of the account's open orders; client order ids map to the ring of remembered
// outcomes through an index of 64-byte buckets, each one cache line of ten tags and
// positions (window.go; eight consecutive ids of an account share a bucket, and a lookup
// stops at the first bucket nothing overflowed). Trading accounts with increasing client
// order ids are an append-only slice (opt-in order; each holds its mark and a fixed
// ring array, so remembering never allocates) indexed by (client, account) through
// another indexTable. Each client's count of open orders (share.go), once kept, is an
// entry indexed by client that its trading accounts point to. Good-till-time orders sit
// in an indexed binary heap by (deadline, order id). Ledger batches, plans and outputs
// use scratch buffers allocated in New. Every size is bounded by a named constant or
// Config field (limits.go); pools grow only when the high-water mark rises, so the steady
// state allocates nothing (TestSteadyStateAllocatesNothing).
//
// # Performance
//
// README.md in this directory has BenchmarkMatching's figures, where the time goes, the
// design of reservations instead of hold transfers and of per-account client order ids
// (both built; the latter as an opt-in).
//
// # Invariants (CheckInvariants; run after every command in tests and by Restore)
//
//   - Books: levels strictly ordered, ladder, tree and list agree (a level is in the
//     ladder exactly when its price is in the ladder's span), queues consistent, never
//     crossed; every open order is indexed and listed exactly once.
//   - Shares: once kept, each client's entry counts exactly its open orders (a count made
//     afresh over the pool) and each trading account points to its client's; before,
//     there is none and the open orders are short of a share.
//   - Funds: every open order holds exactly holdRequired, through a reservation or (a
//     legacy order) a pending system transfer to its escrow; every paying account's
//     reserved total in the ledger is the sum of its open orders' reservations; every
//     escrow's pending credits equal the sum of its open holds and its posted debits
//     equal its posted credits; the ledger's own invariants hold (ledger.CheckInvariants,
//     and ledger.Ledger.CheckReservations in the tests and on restore).
//
// # Snapshots
//
// Snapshot copies the open orders, instruments, idempotency window and the rings of the
// accounts with increasing client order ids (O(open orders + window + rings));
// SnapshotView.WriteTo encodes them from any goroutine (format in snapshot.go). Restore
// checks untrusted input completely and rebuilds every derived structure. Digest hashes
// the encoding. Layouts of pools and hash tables are never observable, so a restored
// engine continues exactly as the original would have.
package match
