package match

import "sequent/core/model"

// Bounds of the engine. Every loop, table and queue in the package is bounded by one of
// these or by a Config field that defaults to one of these.
const (
	// InstrumentsMaxDefault bounds instruments unless Config says otherwise. A shard holds
	// the books of the accounts it owns; a thousand books per shard is far more than one
	// core can keep hot, and each costs only a few hundred bytes when empty.
	InstrumentsMaxDefault = 1024

	// OrdersMaxDefault bounds open (resting) orders unless Config says otherwise: 2^20
	// orders at ~200 bytes each plus ~16 bytes of index is ~220 MiB, the most this machine
	// class should give one shard's books. Exchange-core's own target is 4M orders over
	// 100K books on a much larger machine.
	OrdersMaxDefault = 1 << 20

	// OrdersPerClientDivisor sets the default of Config.OrdersPerClientMax: a client may
	// keep at most a sixteenth of Config.OrdersMax resting on a shard (rules version 7 on;
	// the system and operators are not bound). The orders table is shared by every client,
	// and an order that rests holds only what it may pay (a lot at the lowest tick), so
	// without a share one client with the funds for OrdersMax small orders could fill the
	// table and have every other client's resting place refused for as long as it keeps
	// them; with it, at least sixteen client ids (not keys: a client's keys share its
	// share) must each take their whole share. At the default table a share is 65,536 orders: a market maker quoting 20 levels a side
	// on 1,024 instruments (the most a shard holds) rests 40,960.
	OrdersPerClientDivisor = 16

	// ClientOrderIDsMaxDefault is the idempotency window: the results of the most recent
	// this-many order commands are remembered, so a resend within the window answers the
	// original result. At 1 M commands/s that is about a second of history; clients that
	// retry later than the session layer's own exactly-once window are told by the
	// session table, not here. ~96 bytes per entry (a 64-byte ring entry and 32 bytes of
	// index: a 64-byte bucket per two entries, see windowKeysPerBucketMax).
	ClientOrderIDsMaxDefault = 1 << 20

	// ClientOrderIDsPerAccountMax bounds (and is the default of) Config.
	// ClientOrderIDsPerAccount: how many recent commands of a trading account that opted
	// into increasing client order ids are remembered for resends. 64 covers a client
	// that resends everything it had in flight when its connection broke, up to 64 order
	// commands per trading account; a ring entry is 40 bytes, so an account costs ~2.6 KiB.
	ClientOrderIDsPerAccountMax = 64

	// IncreasingAccountsMax bounds the trading accounts that opted into increasing client
	// order ids (an opt-in is kept for good; beyond the bound an opting place is refused
	// with accounts_limit_reached): at ~2.6 KiB each, at most ~42 MiB.
	IncreasingAccountsMax = 16384

	// IncreasingAccountsPerClientMax bounds the trading accounts one client may opt into
	// increasing client order ids on a shard (rules version 6 on; the system and
	// operators are not bound): a sixteenth of the table. Opt-ins are kept for good and
	// trading accounts are numbers a client chooses, so without a share one client could
	// take the whole table with a few requests of immediate-or-cancel places and shut
	// every other client out for the life of the log; with it, at least sixteen client ids
	// (not keys: a client's keys share its share) must each take their whole share to
	// fill it. 1,024 is still far more trading accounts than one client's strategies
	// use, and an account's ring costs ~2.6 KiB, so a share is at most ~2.6 MiB.
	IncreasingAccountsPerClientMax = IncreasingAccountsMax / 16

	// FillsPerStepMax bounds the fills settled by one ledger chain (one "step" of an
	// order's matching). A fill costs at most four chain events (the maker's payment from
	// its reservation, the release of what its rest no longer needs — or, for a legacy
	// hold, its post and the reservation of its rest — maker proceeds, maker fee), the
	// taker four more, and every planned cancel
	// one: 1024 fills + 1024 cancels + 4 stay below the ledger's 8,189 events per batch.
	// An order that needs more fills continues in a further step (each step leaves the
	// ledger and the book consistent); a fill-or-kill may not, so it is refused with
	// too_many_fills.
	FillsPerStepMax = 1024

	// CancelsPerStepMax bounds the resting orders one step cancels while matching (self-
	// trade prevention and overdue good-till-time orders), for the same reason.
	CancelsPerStepMax = 1024

	// chainEventsMax is the most ledger events one step issues (see FillsPerStepMax).
	chainEventsMax = 4*FillsPerStepMax + CancelsPerStepMax + 4

	// voidsPerBatchMax bounds the holds released by one ledger call when many orders end
	// at once (mass cancel, cancel-on-disconnect, expiry): one ledger batch.
	voidsPerBatchMax = model.EventsPerRequestMax

	// ExpiriesPerPulseMax bounds the good-till-time orders expired by one call to Expire,
	// so that one log entry's work stays bounded; the rest expire on the next entries
	// (and an overdue order never trades: matching cancels it as expired instead).
	ExpiriesPerPulseMax = model.EventsPerRequestMax

	// FeeBasisPointsMax is the largest fee: 10,000 basis points is the whole amount.
	FeeBasisPointsMax = basisPointsPerUnit

	// basisPointsPerUnit converts basis points to a fraction.
	basisPointsPerUnit = 10_000

	// marketDataDirtyMax bounds the price levels remembered as changed before they are
	// published; a step touches at most FillsPerStepMax + CancelsPerStepMax + 2 levels, a
	// mass cancel flushes when it reaches the bound.
	marketDataDirtyMax = FillsPerStepMax + CancelsPerStepMax + 2

	// indexNone marks "no element" in 32-bit index links.
	indexNone = ^uint32(0)

	// indexCountMax bounds every pool: indexes are 32-bit, and indexNone and index+1
	// (stored in table slots) must not overflow.
	indexCountMax = 1<<31 - 1

	// indexTableSlotsMin is the smallest hash index (8 KiB), so small engines stay small.
	indexTableSlotsMin = 1024

	// ladderTicks is the span of each book side's price ladder (ladder.go), in ticks: the
	// levels within it are found by an array read and a bitmap scan instead of the AVL
	// tree. 1,024 ticks covers the active part of a book (exchange-core's mix keeps its
	// ~450 levels within ±300 ticks of the top) for 4 KiB of entries and 128 bytes of
	// bitmap per side (8.3 KiB per instrument, ~8.5 MiB at InstrumentsMaxDefault).
	ladderTicks = 1024

	// avlHeightMax bounds the AVL tree's height: an AVL tree of height h holds at least
	// Fib(h+2)-1 nodes, and 2^31 levels need fewer than 46.
	avlHeightMax = 46

	// timestampMax is the largest valid timestamp, as in the ledger (2^63-1).
	timestampMax = 1<<63 - 1

	// restoreCapacityMax bounds what Restore preallocates on the word of a snapshot header
	// before the records behind the counts have been read.
	restoreCapacityMax = 1 << 16
)
