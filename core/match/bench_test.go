package match

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"sequent/bench/threadcpu"
	"sequent/core/event"
	"sequent/core/ledger"
	"sequent/core/model"
)

// The benchmark follows exchange-core's published mix: one instrument, 1,000 active
// accounts, ~1,000 resting orders over a few hundred price levels, and a command stream of
// about 9% GTC, 3% IOC, 6% cancel and 82% move (cancel-replace to a new price).
const (
	benchTraders       = 1000
	benchRestingOrders = 1000
	benchSpreadTicks   = 300     // Passive orders rest up to this many ticks from the top.
	benchCenterPrice   = 100_000 // Quote units per lot (tick 1, lot 1).
	benchFunds         = 1 << 60 // Per trader and ledger: never short.
)

// benchKind is a command of the stream.
type benchKind uint8

const (
	benchGTC benchKind = iota
	benchIOC
	benchCancel
	benchMove
)

// benchCommand is one command of the stream, compact (the stream holds millions).
type benchCommand struct {
	kind     benchKind
	side     model.Side
	trader   uint32
	orderID  uint64 // Cancel and move.
	price    uint64
	quantity uint64 // Place: the order's; move: the order's total (unchanged).
}

// benchVariant is one way of running the same stream.
type benchVariant struct {
	name         string
	settlement   bool // Holds and settlement in the ledger.
	reservePrice bool // Bids hold at a reserve price far above the market.
	events       bool // Record every change as an event, as the state machine does.
	// increasingIDs: every trader's account opts into increasing client order ids (its
	// places carry the flag), so commands use its ring instead of the shared window.
	increasingIDs bool
	// windowFirst: one window command (another trading account's, without the flag)
	// precedes the initial book, so every account opts in while the window holds a key:
	// each has a window span until that key is forgotten.
	windowFirst bool
	// ordersPerClientMax, when set, is the engine's per-client share of open orders: low
	// enough that the book's open orders come within one of it (the clients' entries are
	// kept from then on), high enough that no trader reaches it.
	ordersPerClientMax uint32
}

// BenchmarkMatching measures whole commands: validation, idempotency window, matching,
// the ledger chains (holds, posts, re-holds, proceeds, fees: every transfer of a real
// run), reports and market data to a sink that drops them. One op is one command; the
// command stream is generated beforehand by a dry run (so the timed loop only applies
// it) and is valid throughout: every cancel and move names an open order.
//
//   - settled: every order holds exactly what it needs; a bid moved to a new price voids
//     its hold and holds again (two ledger transfers), an ask's hold does not change.
//   - settled-reserve-price: bids carry a reserve price above the market (as exchange-
//     core's GTC bids may), so moves within it need no new hold.
//   - book-only: the same stream with the ledger switched off, to show the split.
//   - settled-events: settled, also recording every change (ledger transfers, reports,
//     market data) as an event the way the state machine does for the outbound streams;
//     compare with settled in the same run for the cost of producing events.
//   - settled-increasing-ids, book-only-increasing-ids: settled and book-only with every
//     trader's account opted into increasing client order ids (the same stream and keys;
//     each command checks its key against the account's mark and ring, not the window).
//   - settled-increasing-ids-window-first, book-only-increasing-ids-window-first: the
//     same, after one window command of another trading account (a cancel of no order),
//     so every account opts in while the window holds a key and has a window span: its
//     new keys are also looked up in the window until that key is forgotten, after
//     ClientOrderIDsMax (1,048,576) commands remembered; run 3,000,000 commands to see
//     the span and the time after it.
func BenchmarkMatching(b *testing.B) {
	for _, variant := range []benchVariant{
		{name: "settled", settlement: true},
		{name: "settled-events", settlement: true, events: true},
		{name: "settled-reserve-price", settlement: true, reservePrice: true},
		{name: "book-only"},
		{name: "settled-increasing-ids", settlement: true, increasingIDs: true},
		{name: "book-only-increasing-ids", increasingIDs: true},
		{name: "settled-increasing-ids-window-first", settlement: true, increasingIDs: true,
			windowFirst: true},
		{name: "book-only-increasing-ids-window-first", increasingIDs: true,
			windowFirst: true},
	} {
		b.Run(variant.name, func(b *testing.B) { benchmarkMatching(b, variant) })
	}
}

func benchmarkMatching(b *testing.B, variant benchVariant) {
	commands := benchStream(b, b.N, variant)
	bench := newBench(b, variant, uint32(3*b.N+1_000_000))
	transfers := bench.ledger.TransferCount()
	var events event.Buffer
	if variant.events {
		bench.sink.events = &events
		bench.ledger.SetEvents(&events)
	}
	runtime.GC() // Finish the setup's collection work before the clock starts.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	benchApplyAll(bench, commands, &events)
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if bench.failures != 0 {
		b.Fatalf("%d commands failed", bench.failures)
	}
	if err := bench.engine.CheckInvariants(); err != nil {
		b.Fatalf("invariants: %v", err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	b.ReportMetric(float64(bench.ledger.TransferCount()-transfers)/float64(b.N), "transfers/op")
	b.ReportMetric(float64(bench.sink.trades)/float64(b.N), "fills/op")
	b.ReportMetric(float64(bench.trading)/float64(b.N), "trading-commands/op")
	if threadcpu.Supported && cpu > 0 {
		// The thread's own CPU time: on the shared machine, wall time also counts the
		// time other processes held the core.
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/order")
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "cpu-orders/s")
	}
}

// benchApplyAll is the benchmark's timed loop, a function of its own so that an
// instruction-counting profiler can count it alone (valgrind --tool=callgrind
// --toggle-collect='*benchApplyAll*'), without the setup and the dry run that generates
// the stream, which run the same engine code. The recipe's 200,000 commands (core/match
// README.md, session 31) and the initial book take 201,000 slots of the 1 Mi-entry
// idempotency window, which is never full then: nothing is forgotten, and
// prefetchForget returns at its first test, so its steady-state cost (the forgets and
// the ring prefetch, session 52) shows only in longer runs or in BenchmarkWindow
// (TestCallgrindRecipeNeverFillsWindowReview52m checks the count).
//
//go:noinline
func benchApplyAll(bench *bench, commands []benchCommand, events *event.Buffer) {
	for i := range commands {
		events.Reset()
		bench.apply(&commands[i], &bench.sink)
	}
}

// bench is an engine with the benchmark's instrument, traders and resting book.
type bench struct {
	ledger   *ledger.Ledger
	engine   *Engine
	variant  benchVariant
	clock    uint64
	sink     benchSink
	keys     []uint64 // Next client order id per trader.
	order    [1]model.Order
	replace  [1]model.OrderReplace
	cancel   [1]model.OrderCancel
	results  [1]model.OrderResult
	failures int
	trading  int // Commands that traded.
}

// benchSink counts what it is given and keeps nothing, or records it as events.
type benchSink struct {
	reports, updates, trades int
	events                   *event.Buffer // When set, reports and updates are recorded.
}

func (s *benchSink) Report(r *model.ExecutionReport) {
	s.reports++
	if s.events != nil {
		s.events.AppendOrder(r)
	}
	if r.Kind == model.ReportFill && r.Liquidity == model.LiquidityTaker {
		s.trades++
	}
}

func (s *benchSink) MarketData(update *model.MarketDataUpdate) {
	s.updates++
	if s.events != nil {
		s.events.AppendMarketData(update)
	}
}

// newBench creates the ledger (sized for transfersCapacity), the engine, the instrument,
// the funded traders and the initial resting book.
func newBench(tb testing.TB, variant benchVariant, transfersCapacity uint32) *bench {
	l := ledger.New(ledger.Config{AccountsCapacity: 2*benchTraders + 16,
		TransfersCapacity: transfersCapacity, HashSeed: 1})
	e := New(l, Config{OrdersCapacity: 4 * benchRestingOrders,
		ClientOrderIDsCapacity: ClientOrderIDsMaxDefault, HashSeed: 2,
		OrdersPerClientMax: variant.ordersPerClientMax})
	e.settlementDisabled = !variant.settlement
	bench := &bench{ledger: l, engine: e, variant: variant, clock: 1,
		keys: make([]uint64, benchTraders+1)}
	banks := []model.Account{
		{ID: model.U128(bankBaseID), Ledger: testBaseLedger, Code: 1},
		{ID: model.U128(bankQuoteID), Ledger: testQuoteLedger, Code: 1}}
	l.CreateAccounts(bench.clock+1, banks, make([]model.EventResult, len(banks)))
	bench.clock += uint64(len(banks))
	limit := model.AccountDebitsMustNotExceedCredits
	for n := uint64(1); n <= benchTraders; n++ {
		// Each trader's accounts belong to the client that trades them, so the ownership
		// check on every order takes its usual (owner) path.
		accounts := []model.Account{
			{ID: traderBase(n), Ledger: testBaseLedger, Code: 3, Flags: limit},
			{ID: traderQuote(n), Ledger: testQuoteLedger, Code: 3, Flags: limit}}
		l.CreateAccountsAs(n, bench.clock+1, accounts, make([]model.EventResult, len(accounts)))
		bench.clock += uint64(len(accounts))
	}
	deposits := make([]model.Transfer, 0, 2*benchTraders)
	for n := uint64(1); n <= benchTraders; n++ {
		deposits = append(deposits,
			model.Transfer{ID: model.U128(2 * n), DebitAccountID: model.U128(bankBaseID),
				CreditAccountID: traderBase(n), Amount: model.U128(benchFunds),
				Ledger: testBaseLedger, Code: 1},
			model.Transfer{ID: model.U128(2*n + 1), DebitAccountID: model.U128(bankQuoteID),
				CreditAccountID: traderQuote(n), Amount: model.U128(benchFunds),
				Ledger: testQuoteLedger, Code: 1})
	}
	l.CreateTransfers(bench.clock+1, deposits, make([]model.TransferResult, len(deposits)))
	bench.clock += uint64(len(deposits))
	x := model.Instrument{ID: testInstrument, BaseLedger: testBaseLedger,
		QuoteLedger: testQuoteLedger, TickSize: 1, LotSize: 1, QuantityMin: 1,
		QuantityMax: 1_000, MakerFeeBasisPoints: 1, TakerFeeBasisPoints: 2,
		FeeBaseAccountID: model.U128(bankBaseID), FeeQuoteAccountID: model.U128(bankQuoteID)}
	results := make([]model.EventResult, 1)
	e.CreateInstruments(&bench.clock, []model.Instrument{x}, results)
	if results[0].Status != model.StatusOK {
		tb.Fatalf("instrument: %s", results[0].Status)
	}
	if variant.windowFirst {
		// A cancel of no order (order_not_found, remembered): it takes no order id, so
		// the stream's cancels still name the orders of the dry run.
		c := model.OrderCancel{ClientOrderID: 1, Account: 2, OrderID: 1 << 40}
		e.CancelOrders(&bench.clock, 1, []model.OrderCancel{c}, make([]model.OrderResult, 1),
			&bench.sink)
	}
	for _, c := range benchInitialBook() {
		bench.apply(&c, &bench.sink)
	}
	if bench.failures != 0 || e.OpenOrderCount() != benchRestingOrders {
		tb.Fatalf("initial book: %d failures, %d orders", bench.failures, e.OpenOrderCount())
	}
	return bench
}

// benchInitialBook returns the GTC orders of the initial book: bids and asks alternating,
// spread over benchSpreadTicks on each side of the center.
func benchInitialBook() []benchCommand {
	random := rand.New(rand.NewPCG(7, 8))
	commands := make([]benchCommand, benchRestingOrders)
	for i := range commands {
		c := &commands[i]
		c.kind, c.trader = benchGTC, uint32(1+random.IntN(benchTraders))
		c.quantity = uint64(10 + random.IntN(91))
		offset := uint64(1 + random.IntN(benchSpreadTicks))
		if i%2 == 0 {
			c.side, c.price = model.SideBuy, benchCenterPrice-offset
		} else {
			c.side, c.price = model.SideSell, benchCenterPrice+offset
		}
	}
	return commands
}

// apply sends one command to the engine as a one-event request.
func (bench *bench) apply(c *benchCommand, sink Sink) {
	client := uint64(c.trader)
	bench.keys[c.trader]++
	key := bench.keys[c.trader]
	e := bench.engine
	trades := bench.sink.trades
	switch c.kind {
	case benchGTC, benchIOC:
		o := &bench.order[0]
		*o = model.Order{ClientOrderID: key, Account: 1, BaseAccountID: traderBase(client),
			QuoteAccountID: traderQuote(client), Price: c.price, Quantity: c.quantity,
			Instrument: testInstrument, Side: c.side, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}
		if c.kind == benchIOC {
			o.TimeInForce = model.ImmediateOrCancel
		}
		if bench.variant.increasingIDs {
			o.Flags = model.OrderFlagClientOrderIDsIncreasing
		}
		if bench.variant.reservePrice && c.side == model.SideBuy && c.kind == benchGTC {
			o.ReservePrice = 2 * benchCenterPrice
		}
		e.PlaceOrders(&bench.clock, client, bench.order[:], bench.results[:], sink)
	case benchCancel:
		bench.cancel[0] = model.OrderCancel{ClientOrderID: key, Account: 1, OrderID: c.orderID}
		e.CancelOrders(&bench.clock, client, bench.cancel[:], bench.results[:], sink)
	case benchMove:
		r := &bench.replace[0]
		*r = model.OrderReplace{ClientOrderID: key, Account: 1, OrderID: c.orderID,
			Price: c.price, Quantity: c.quantity}
		if bench.variant.reservePrice && c.side == model.SideBuy {
			r.ReservePrice = 2 * benchCenterPrice
		}
		e.ReplaceOrders(&bench.clock, client, bench.replace[:], bench.results[:], sink)
	}
	if bench.results[0].Status != model.StatusOK {
		bench.failures++ // Counted, not reported here: this runs inside the timed loop.
	}
	if bench.sink.trades != trades {
		bench.trading++
	}
}

// benchLive is an open order as the stream generator tracks it.
type benchLive struct {
	id, price, total uint64
	trader           uint32
	side             model.Side
}

// benchTracker follows the dry run's reports to know which orders are open.
type benchTracker struct {
	live     []benchLive
	position map[uint64]int // Order id → index in live.
	pending  benchLive      // The order being placed (added when accepted).
}

func (t *benchTracker) Report(r *model.ExecutionReport) {
	switch r.Kind {
	case model.ReportAccepted:
		t.pending.id, t.pending.total = r.OrderID, r.Quantity
		t.position[r.OrderID] = len(t.live)
		t.live = append(t.live, t.pending)
	case model.ReportReplaced:
		t.live[t.position[r.OrderID]].price = r.Price
	}
	if r.LeavesQuantity == 0 || r.Kind == model.ReportCanceled || r.Kind == model.ReportExpired {
		if index, found := t.position[r.OrderID]; found {
			last := len(t.live) - 1
			t.live[index] = t.live[last]
			t.position[t.live[index].id] = index
			t.live = t.live[:last]
			delete(t.position, r.OrderID)
		}
	}
}

func (t *benchTracker) MarketData(*model.MarketDataUpdate) {}

// benchStream generates count commands by a dry run on an engine without settlement
// (funds never run short, so holds do not change what the stream does).
func benchStream(tb testing.TB, count int, variant benchVariant) []benchCommand {
	dry := newBench(tb, benchVariant{reservePrice: variant.reservePrice}, 0)
	tracker := &benchTracker{position: map[uint64]int{}}
	for slot := range dry.engine.orders {
		if o := &dry.engine.orders[slot]; o.level != indexNone {
			tracker.position[o.id] = len(tracker.live)
			tracker.live = append(tracker.live, benchLive{id: o.id, price: o.price,
				total: o.leaves + o.filled, trader: uint32(o.client), side: o.side})
		}
	}
	random := rand.New(rand.NewPCG(1, 2))
	commands := make([]benchCommand, count)
	for i := range commands {
		c := &commands[i]
		benchDraw(random, dry.engine, tracker, c)
		if c.kind == benchGTC || c.kind == benchIOC {
			tracker.pending = benchLive{price: c.price, trader: c.trader, side: c.side}
		}
		dry.apply(c, tracker)
	}
	if dry.failures != 0 {
		tb.Fatalf("dry run: %d commands failed", dry.failures)
	}
	return commands
}

// benchDraw draws the next command: 9% GTC (a third aggressive, the rest passive while
// the book is below its target size), 3% IOC (aggressive), 6% cancel, 82% move by 1-3
// ticks, except one move in 200 that crosses the spread.
func benchDraw(random *rand.Rand, e *Engine, tracker *benchTracker, c *benchCommand) {
	x := &e.instruments[0]
	bestBid, bestAsk := uint64(benchCenterPrice-1), uint64(benchCenterPrice+1)
	if x.bids.best != indexNone {
		bestBid = e.levels[x.bids.best].price
	}
	if x.asks.best != indexNone {
		bestAsk = e.levels[x.asks.best].price
	}
	roll := random.IntN(100)
	if len(tracker.live) == 0 {
		roll = 0
	}
	switch {
	case roll < 12:
		*c = benchCommand{kind: benchGTC, side: model.Side(1 + random.IntN(2)),
			trader: uint32(1 + random.IntN(benchTraders)), quantity: uint64(10 + random.IntN(91))}
		// Some GTCs cross (all while the book is above its target size); with the IOCs
		// and the occasional crossing move about 6% of commands trade, as in
		// exchange-core's runs. Takers are small next to resting orders (1-10 lots
		// against 10-100), so fills rarely empty a level and the book keeps its size.
		aggressive := roll >= 9 || roll < 2 || len(tracker.live) >= benchRestingOrders
		if aggressive {
			c.quantity = uint64(1 + random.IntN(10))
		}
		if roll >= 9 {
			c.kind = benchIOC
		}
		offset := uint64(random.IntN(3))
		switch {
		case aggressive && c.side == model.SideBuy:
			c.price = bestAsk + offset
		case aggressive:
			c.price = bestBid - offset
		case c.side == model.SideBuy:
			c.price = bestAsk - 1 - uint64(random.IntN(benchSpreadTicks))
		default:
			c.price = bestBid + 1 + uint64(random.IntN(benchSpreadTicks))
		}
	case roll < 18:
		o := tracker.live[random.IntN(len(tracker.live))]
		*c = benchCommand{kind: benchCancel, trader: o.trader, orderID: o.id, side: o.side}
	default:
		o := tracker.live[random.IntN(len(tracker.live))]
		*c = benchCommand{kind: benchMove, trader: o.trader, orderID: o.id, side: o.side,
			quantity: o.total, price: o.price}
		step := uint64(1 + random.IntN(3))
		if random.IntN(2) == 0 {
			c.price += step
		} else if c.price > step {
			c.price -= step
		}
		switch {
		case random.IntN(200) == 0: // Now and then a move crosses the spread and trades.
			c.price = bestAsk + 1
			if c.side == model.SideSell {
				c.price = bestBid - 1
			}
		case c.side == model.SideBuy:
			c.price = min(c.price, bestAsk-1)
		default:
			c.price = max(c.price, bestBid+1)
		}
	}
}

// TestSteadyStateAllocatesNothing runs the benchmark's stream (settled, exact holds) on a
// warmed-up engine and fails if the measured part allocates at all: pools, tables, ledger
// storage and scratch buffers must all have been sized up front.
//
// It runs twice: with the shared window, and with every account's increasing client
// order ids (whose rings are fixed arrays: remembering must not allocate either).
func TestSteadyStateAllocatesNothing(t *testing.T) {
	const warm, measured = 20_000, 20_000
	for _, variant := range []benchVariant{
		{name: "settled", settlement: true},
		{name: "settled-increasing-ids", settlement: true, increasingIDs: true},
		{name: "settled-clients-counted", settlement: true, ordersPerClientMax: 64},
	} {
		commands := benchStream(t, warm+measured, variant)
		bench := newBench(t, variant, 4*(warm+measured))
		next := 0
		allocations := testing.AllocsPerRun(1, func() {
			end := next + warm
			for ; next < end; next++ {
				bench.apply(&commands[next], &bench.sink)
			}
		})
		if allocations != 0 || bench.failures != 0 {
			t.Fatalf("%s: %v allocations over %d commands (%d failed)", variant.name,
				allocations, measured, bench.failures)
		}
		active := 0 // Traders that sent a command: each opted in with its first place.
		for _, key := range bench.keys {
			if key != 0 {
				active++
			}
		}
		if variant.ordersPerClientMax != 0 && !bench.engine.clientsCounted {
			t.Fatalf("%s: the clients' open orders were never counted", variant.name)
		}
		if variant.increasingIDs && len(bench.engine.increasing) != active {
			t.Fatalf("%d accounts opted in, want %d", len(bench.engine.increasing), active)
		}
	}
}

// BenchmarkMatchingEventsCost measures what recording events (ledger transfers,
// reports, market data) costs the settled matching benchmark, robustly on a shared
// machine: the command stream alternates, 1,000 commands at a time, between events off
// and on, timing each, so both see the same noise.
//
//	go test ./core/match -run '^$' -bench MatchingEventsCost -benchtime 1000000x -count 3
func BenchmarkMatchingEventsCost(b *testing.B) {
	variant := benchVariant{name: "settled", settlement: true}
	commands := benchStream(b, b.N, variant)
	bench := newBench(b, variant, uint32(3*b.N+1_000_000))
	var events event.Buffer
	var spent [2]time.Duration
	const run = 1000
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for start := 0; start < len(commands); start += run {
		on := (start/run)%2 == 1
		bench.sink.events = nil
		bench.ledger.SetEvents(nil)
		if on {
			bench.sink.events = &events
			bench.ledger.SetEvents(&events)
		}
		began := time.Now()
		for i := start; i < min(start+run, len(commands)); i++ {
			events.Reset()
			bench.apply(&commands[i], &bench.sink)
		}
		spent[boolIndex(on)] += time.Since(began)
	}
	b.StopTimer()
	if bench.failures != 0 {
		b.Fatalf("%d commands failed", bench.failures)
	}
	half := float64(b.N) / 2
	b.ReportMetric(float64(spent[0].Nanoseconds())/half, "ns/order-off")
	b.ReportMetric(float64(spent[1].Nanoseconds())/half, "ns/order-on")
	b.ReportMetric(100*(float64(spent[1])/float64(spent[0])-1), "events-cost-%")
}

func boolIndex(on bool) int {
	if on {
		return 1
	}
	return 0
}
