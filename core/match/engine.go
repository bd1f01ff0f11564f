package match

import (
	"fmt"

	"sequent/core/ledger"
	"sequent/core/model"
)

// Config sizes an Engine. The zero value works: limits take their defaults and pools
// start small and grow (each growth is one allocation when the high-water mark rises,
// never per order in the steady state). Set the capacities to the expected sizes so that
// nothing grows on the hot path.
type Config struct {
	InstrumentsMax    uint32 // Most instruments; 0 = InstrumentsMaxDefault.
	OrdersMax         uint32 // Most open orders over all books; 0 = OrdersMaxDefault.
	ClientOrderIDsMax uint32 // Idempotency window; 0 = ClientOrderIDsMaxDefault.
	// OrdersPerClientMax is how many open orders one client may keep (rules version 7 on;
	// the system and operators are not bound); 0 = OrdersMax / OrdersPerClientDivisor,
	// at least 1; above OrdersMax = OrdersMax. Like OrdersMax it is part of the state's
	// meaning: replicas and restores must use the same.
	OrdersPerClientMax uint32
	// ClientOrderIDsPerAccount is how many recent commands of each trading account with
	// increasing client order ids are remembered; 0 (or above the maximum) =
	// ClientOrderIDsPerAccountMax. Like ClientOrderIDsMax it is part of the state's
	// meaning: replicas and restores must use the same.
	ClientOrderIDsPerAccount uint32
	// OrdersCapacity is how many open orders to size the pools and tables for up front.
	OrdersCapacity uint32
	// ClientOrderIDsCapacity is how much of the idempotency window to allocate up front.
	ClientOrderIDsCapacity uint32
	// HashSeed seeds the hash indexes. Any value gives the same results (their layout is
	// never observable); a per-process random seed keeps crafted ids from clustering.
	HashSeed uint64
}

func (c *Config) withDefaults() Config {
	result := *c
	if result.InstrumentsMax == 0 || result.InstrumentsMax > indexCountMax/2 {
		result.InstrumentsMax = InstrumentsMaxDefault
	}
	if result.OrdersMax == 0 || result.OrdersMax > indexCountMax/2 {
		result.OrdersMax = OrdersMaxDefault
	}
	if result.ClientOrderIDsMax == 0 || result.ClientOrderIDsMax > indexCountMax/2 {
		result.ClientOrderIDsMax = ClientOrderIDsMaxDefault
	}
	if result.ClientOrderIDsPerAccount == 0 ||
		result.ClientOrderIDsPerAccount > ClientOrderIDsPerAccountMax {
		result.ClientOrderIDsPerAccount = ClientOrderIDsPerAccountMax
	}
	switch {
	case result.OrdersPerClientMax == 0:
		result.OrdersPerClientMax = max(result.OrdersMax/OrdersPerClientDivisor, 1)
	case result.OrdersPerClientMax > result.OrdersMax:
		result.OrdersPerClientMax = result.OrdersMax // No share: the table alone.
	}
	result.OrdersCapacity = min(result.OrdersCapacity, result.OrdersMax)
	result.ClientOrderIDsCapacity = min(result.ClientOrderIDsCapacity, result.ClientOrderIDsMax)
	return result
}

// Sink receives the engine's outputs while a command is applied. Both records are owned
// by the engine and valid only during the call: copy what is kept. Reports go to the
// order's owner (report.Client); market data is public.
type Sink interface {
	Report(report *model.ExecutionReport)
	MarketData(update *model.MarketDataUpdate)
}

// instrument is one order book and its funds plumbing.
type instrument struct {
	record             model.Instrument
	escrowBase         model.Uint128 // System account holding base of open sells.
	escrowQuote        model.Uint128 // System account holding quote of open buys.
	bids               bookSide
	asks               bookSide
	marketDataSequence uint64 // Last market-data sequence number published.
	escrowBaseIndex    uint32 // The escrows' ledger indexes as last found (guesses,
	escrowQuoteIndex   uint32 // checked: see order.payingIndex); 0 until first used.
	feeBaseIndex       uint32 // The fee accounts' ledger indexes as last found (guesses
	feeQuoteIndex      uint32 // too: chain.homes); 0 until first used.
}

// side returns the book side of the given side.
func (x *instrument) side(side model.Side) *bookSide {
	if side == model.SideBuy {
		return &x.bids
	}
	return &x.asks
}

// Engine is the matching engine: order books whose trades settle in the ledger in the
// same step. See the package documentation for the model, the invariants and the rules.
//
// Ownership: one goroutine (the shard's sequencer) owns an Engine and its Ledger and
// calls every method, except SnapshotView.WriteTo, which may run on another goroutine.
type Engine struct {
	ledger *ledger.Ledger
	config Config
	seed   uint64

	instruments     []instrument
	instrumentIndex map[uint32]uint32 // Instrument id → index (lookups only, never ranged).

	orders      []order    // Pool; slots are recycled through orderFree.
	orderFree   []uint32   // Free slots (stack).
	orderIndex  indexTable // Order id → slot, open orders only.
	openCount   uint32     // Open (resting) orders.
	levels      []level    // Pool of price levels.
	levelFree   []uint32   // Free levels (stack).
	accounts    []tradingAccount
	accountFree []uint32
	accountIdx  indexTable // (client, account) → tradingAccount, while it has orders.
	window      clientOrderWindow
	expiry      expiryHeap

	// Open orders per client (share.go): an entry per client with open orders, which
	// each of its trading accounts points to (tradingAccount.clientEntry), kept from the
	// first time the open orders reach a client's share (clientsCounted).
	clientEntries    []clientEntry
	clientEntryFree  []uint32
	clientEntryIndex indexTable // Client → clientEntries, while it has open orders.
	clientsCounted   bool       // The entries are kept (clientsCountStart).

	// Trading accounts with increasing client order ids (increasing.go), in opt-in
	// order, and their index by (client, account). keyAccount is the account whose ring
	// the current command's outcome goes to (indexNone: the window), set by lookupKey.
	increasing      []increasingAccount
	increasingIndex indexTable
	keyAccount      uint32
	keyOptIn        bool        // The current command is a place asking to opt in.
	keyEntry        windowEntry // lookupKey's answer from a ring.
	// orderFlagsRefused keeps byte 104 of a place reserved (reserved_field unless 0), as
	// before the order flags: set by the owner (core's rules version) for a log written
	// then, so that it replays as it was applied. Not in the snapshot: the owner's.
	orderFlagsRefused bool
	// replaceFundingUnchecked skips the check of a replace's paying account
	// (validateReplace), as before it: set by the owner (core's rules version) for a log
	// written then. Not in the snapshot: the owner's.
	replaceFundingUnchecked bool
	// increasingShareUnchecked lets a client opt in trading accounts up to the table's
	// bound, as before its share (IncreasingAccountsPerClientMax): set by the owner
	// (core's rules version) for a log written then. Not in the snapshot: the owner's.
	increasingShareUnchecked bool
	// ordersShareUnchecked lets a client rest orders up to the table's bound, as before
	// its share (Config.OrdersPerClientMax): set by the owner (core's rules version) for a
	// log written then. Not in the snapshot: the owner's.
	ordersShareUnchecked bool
	// refusalShrinksSteps makes a step the ledger refused for a resting order be planned
	// again with fewer fills (matchTaker, stepFillsAfterRefusal), so that each such order
	// costs a bounded amount of work: set by the owner (core's rules version 8 on). The
	// zero value is the rule before it, so that a log written then replays as it was
	// applied (and the tests pinned on it stay as they were). Not in the snapshot: the
	// owner's.
	refusalShrinksSteps bool
	// increasingByClient counts the opted-in accounts of each client that has one
	// (increasingAdd; derived from increasing, which Restore rebuilds it from, so not in
	// the snapshot). Only looked up, never ranged.
	increasingByClient map[uint64]uint32
	outcomeEntry       windowEntry // findOutcome's answer from a ring.
	// windowSpanProbes counts the window look-ups of opted-in accounts' keys during their
	// span (windowBeforeOptIn): observed by tests, never part of the state.
	windowSpanProbes uint64

	nextOrderID          uint64 // Id of the next order placed (from 1).
	nextTradeID          uint64 // Id of the next trade (from 1).
	nextTransferSequence uint64 // Sequence of the next system transfer id (from 1).

	scratch scratch

	// settlementDisabled turns the ledger off (benchmarks measuring the book alone).
	// Never set outside tests: without it nothing is held or settled.
	settlementDisabled bool
}

// New returns an engine over the ledger l, which it shares with the rest of the state
// machine (it creates its own system accounts and transfers there).
func New(l *ledger.Ledger, config Config) *Engine {
	if l == nil {
		panic("match: New without a ledger")
	}
	c := config.withDefaults()
	e := &Engine{
		ledger:               l,
		config:               c,
		seed:                 c.HashSeed,
		instrumentIndex:      map[uint32]uint32{},
		orders:               make([]order, 0, c.OrdersCapacity+1),
		orderFree:            make([]uint32, 0, c.OrdersCapacity+1),
		orderIndex:           newIndexTable(c.OrdersCapacity),
		levels:               make([]level, 0, c.OrdersCapacity),
		levelFree:            make([]uint32, 0, c.OrdersCapacity),
		accounts:             make([]tradingAccount, 0, c.OrdersCapacity),
		accountFree:          make([]uint32, 0, c.OrdersCapacity),
		accountIdx:           newIndexTable(c.OrdersCapacity),
		increasingIndex:      newIndexTable(0),
		keyAccount:           indexNone,
		nextOrderID:          1,
		nextTradeID:          1,
		nextTransferSequence: 1,
	}
	e.window.init(c.ClientOrderIDsMax, c.ClientOrderIDsCapacity, c.HashSeed^0x27d4eb2f165667c5)
	e.expiry.items = make([]expiryItem, 0, c.OrdersCapacity)
	e.clientEntryIndex = newIndexTable(0) // Sized when the entries start (share.go).
	e.scratch.init()
	return e
}

// OpenOrderCount returns the number of resting orders over all books.
func (e *Engine) OpenOrderCount() uint32 { return e.openCount }

// InstrumentCount returns the number of instruments.
func (e *Engine) InstrumentCount() int { return len(e.instruments) }

// takeTimestamp returns the next timestamp of the machine's clock and advances it.
func takeTimestamp(clock *uint64) uint64 {
	if *clock >= timestampMax {
		panic(fmt.Sprintf("match: clock %d out of range", *clock))
	}
	*clock++
	return *clock
}

// findInstrument returns the index of the instrument with the id.
func (e *Engine) findInstrument(id uint32) (uint32, bool) {
	index, ok := e.instrumentIndex[id]
	return index, ok
}
