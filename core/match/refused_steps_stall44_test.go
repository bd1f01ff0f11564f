package match

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// refusedMakersEvents rests makers one-lot sells at one price, of client 1 (every
// (good+1)th, first after good ones) and client 3 (the others), closes the account client
// 1's sells are paid into, and returns the ledger events (timestamps: one per event
// submitted, refused chains included) that one buy of client 2 crossing them all costs.
// It checks the outcome: each of client 1's sells canceled canceled_account, each of
// client 3's filled, and the buy resting with what client 1's would have sold it.
func refusedMakersEvents(t *testing.T, makers, good int, shrinks bool) uint64 {
	x := testInstrumentRecord()
	x.QuantityMax = 10 << 30
	h := newHarness(t, Config{OrdersMax: 8192, OrdersPerClientMax: 4096,
		ClientOrderIDsMax: 16384}, x)
	h.e.SetRefusalShrinksSteps(shrinks)
	h.trader(1, uint64(10*makers), 0)
	h.trader(2, 0, uint64(110*makers))
	h.trader(3, uint64(10*makers), 0)
	refused := 0
	results := make([]model.OrderResult, 1)
	for i := range makers { // One place per sell, without h.place's check (O(book) each).
		client := uint64(3)
		if i%(good+1) == good {
			client = 1
			refused++
		}
		h.e.PlaceOrders(&h.clock, client, []model.Order{limitOrder(client, uint64(i+1),
			model.SideSell, 110, 10)}, results, &h.sink)
		if results[0].Status != model.StatusOK {
			t.Fatalf("sell %d: %s", i, results[0].Status)
		}
	}
	h.check()
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	before := h.clock
	result := h.place(2, limitOrder(2, 1, model.SideBuy, 110, uint64(10*makers)))[0]
	if result.Status != model.StatusOK {
		t.Fatalf("buy: %s", result.Status)
	}
	canceled := h.canceledAccount(1)
	if canceled != refused || len(h.sink.fills()) != 2*(makers-refused) {
		t.Fatalf("canceled_account %d of %d sells, %d fill reports of %d", canceled, refused,
			len(h.sink.fills()), 2*(makers-refused))
	}
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64(nil))
	expectEqual(t, "bids", h.book(model.SideBuy),
		[][3]uint64{{result.OrderID, 110, uint64(10 * refused)}})
	return h.clock - before
}

// TestRefusedMakersCostLinearEvents: one buy crossing N resting sells, some or all of
// them of a client that closed the account they are paid into (each refused by the
// ledger, then canceled canceled_account), must cost ledger work that grows linearly with
// N. Before rules version 8 every refused chain was planned again with FillsPerStepMax
// fills, so each refused sell cost a chain of up to about 2,300 events built and undone:
// 9.2 M events for 4,000 of them (12.7 s on this machine), minutes of a stopped sequencer
// for one client's share of the table. From version 8 (SetRefusalShrinksSteps) a refused
// step is planned again with at most half as many fills, and each step applied doubles
// them back. Counted in ledger events (the clock: one timestamp per event submitted,
// refused chains included), not in time; mixes of one refused sell after 0, 1, 7 and 100
// good ones, the refused ones first and last too.
func TestRefusedMakersCostLinearEvents(t *testing.T) {
	const eventsPerMakerMax, eventsFixedMax = 16, chainEventsMax
	for _, c := range []struct{ makers, good int }{{1, 0}, {1_000, 0}, {4_000, 0},
		{4_000, 1}, {4_000, 7}, {4_000, 100}, {3_000, 2_999}} {
		events := refusedMakersEvents(t, c.makers, c.good, true)
		t.Logf("%d sells, one refused after %d good: %d ledger events", c.makers, c.good,
			events)
		if events > eventsPerMakerMax*uint64(c.makers)+eventsFixedMax {
			t.Fatalf("%d sells, one refused after %d good, cost %d ledger events, more "+
				"than %d per sell + %d", c.makers, c.good, events, eventsPerMakerMax,
				eventsFixedMax)
		}
	}
}

// TestRefusedMakersFillOrKillCost: a fill-or-kill settles in one step, so it cannot
// shorten its steps; before rules version 8 each resting order refused under it cost a
// chain of its whole step again, and a fill-or-kill that then fails cancels nothing, so
// the next request's paid the same (1,000 refused sells ahead of 999 good ones: 2.5 M
// ledger events per fill-or-kill buy of 1,000 lots). From version 8, after its first
// refusal it plans every resting order with a closed account as refused: one more chain.
// The outcomes stay: the buy of 1,000 lots is canceled_fill_or_kill with the book
// unchanged (twice: the refused sells stay), the buy of 999 lots fills against the good
// sells and cancels every refused one canceled_account.
func TestRefusedMakersFillOrKillCost(t *testing.T) {
	const refused, good = 1_000, 999
	x := testInstrumentRecord()
	x.QuantityMax = 10 << 30
	h := newHarness(t, Config{OrdersMax: 8192, OrdersPerClientMax: 4096,
		ClientOrderIDsMax: 16384}, x)
	h.e.SetRefusalShrinksSteps(true)
	h.trader(1, 10*refused, 0)
	h.trader(2, 0, 110*(refused+good))
	h.trader(3, 10*good, 0)
	results := make([]model.OrderResult, 1)
	for i := range refused + good { // The refused sells first in time.
		client := uint64(1)
		if i >= refused {
			client = 3
		}
		h.e.PlaceOrders(&h.clock, client, []model.Order{limitOrder(client, uint64(i+1),
			model.SideSell, 110, 10)}, results, &h.sink)
		if results[0].Status != model.StatusOK {
			t.Fatalf("sell %d: %s", i, results[0].Status)
		}
	}
	h.check()
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	asks := h.book(model.SideSell)
	for key, lots := range []uint64{good + 1, good + 1, good} {
		h.sink.reset()
		buy := limitOrder(2, uint64(key+1), model.SideBuy, 110, 10*lots)
		buy.TimeInForce = model.FillOrKill
		before := h.clock
		result := h.place(2, buy)[0]
		events := h.clock - before
		t.Logf("fill-or-kill of %d lots: %d ledger events", lots, events)
		if events > 3*chainEventsMax {
			t.Fatalf("fill-or-kill of %d lots over %d refused sells cost %d ledger events, "+
				"more than %d", lots, refused, events, 3*chainEventsMax)
		}
		if result.Status != model.StatusOK {
			t.Fatalf("fill-or-kill of %d lots: %s", lots, result.Status)
		}
		if lots > good {
			expectEqual(t, "canceled", h.canceled(),
				[][2]uint64{{result.OrderID, uint64(model.StatusCanceledFillOrKill)}})
			expectEqual(t, "asks", h.book(model.SideSell), asks)
			continue
		}
		if len(h.canceled()) != refused || len(h.trades()) != good {
			t.Fatalf("fill-or-kill of %d lots: %d canceled, %d trades", lots,
				len(h.canceled()), len(h.trades()))
		}
		expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64(nil))
	}
}

// TestRefusedStepsShrinkKeepsTheOutcome compares, over random books where some makers'
// accounts (paid into or paying from) are closed, an engine with SetRefusalShrinksSteps
// (rules version 8) and one without (as before): the incoming orders (limit, IOC, FOK,
// market buys with a budget, never of a closed account) must get the same results (their
// timestamps aside: the refused chains before took other counts of them), the same trades
// in the same order (maker, taker, price, quantity), the same cancels with their reasons,
// the same books and the same balances (posted and held) of every trader and fee account.
// Only the transfer ids and timestamps the refused chains take, and how fills group into
// steps, may differ; the invariants are checked after every command.
// FillsPerStepMax is far above these books, so the shortened steps (a refused maker
// first, between fills or last, several in a row) are what is compared.
func TestRefusedStepsShrinkKeepsTheOutcome(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		x := propertyInstrument()
		x.QuantityMax = 10_000
		engines := [2]*harness{}
		for i := range engines {
			engines[i] = newHarness(rt, Config{OrdersCapacity: 64}, x)
			engines[i].e.SetRefusalShrinksSteps(i == 1)
		}
		const makers, takers = 4, 2 // Clients 1..4 rest, 5..6 take.
		for _, h := range engines {
			for n := uint64(1); n <= makers+takers; n++ {
				h.trader(n, 100_000, 10_000_000)
			}
		}
		key := uint64(0)
		closed := map[model.Uint128]bool{}
		sides := []model.Side{model.SideBuy, model.SideSell}
		commands := rapid.IntRange(1, 12).Draw(rt, "commands")
		for command := range commands {
			var client uint64
			var orders []model.Order
			switch rapid.IntRange(0, 9).Draw(rt, "kind") {
			case 0, 1, 2, 3: // A batch of resting orders of one maker.
				client = rapid.Uint64Range(1, makers).Draw(rt, "maker")
				for range rapid.IntRange(1, 30).Draw(rt, "orders") {
					key++
					side := rapid.SampledFrom(sides).Draw(rt, "side")
					price := 100 + 5*rapid.Uint64Range(0, 8).Draw(rt, "tick")
					if side == model.SideSell {
						price += 45 // Makers never cross each other.
					}
					quantity := 10 * rapid.Uint64Range(1, 4).Draw(rt, "lots")
					orders = append(orders, limitOrder(client, key, side, price, quantity))
				}
			case 4: // A maker closes one of its accounts: its orders are refused.
				client = rapid.Uint64Range(1, makers).Draw(rt, "closing")
				id, ledger, bank := traderQuote(client), uint32(testQuoteLedger), uint64(bankQuoteID)
				if rapid.Bool().Draw(rt, "close base") {
					id, ledger, bank = traderBase(client), testBaseLedger, bankBaseID
				}
				if !closed[id] {
					closed[id] = true
					for _, h := range engines {
						h.closeAccount(id, ledger, bank)
					}
				}
				continue
			default: // An incoming order that crosses.
				client = rapid.Uint64Range(makers+1, makers+takers).Draw(rt, "taker")
				key++
				side := rapid.SampledFrom(sides).Draw(rt, "taker side")
				price := uint64(100 + 45 + 40)
				if side == model.SideSell {
					price = 100
				}
				o := limitOrder(client, key, side, price,
					10*rapid.Uint64Range(1, 120).Draw(rt, "taker lots"))
				switch rapid.IntRange(0, 3).Draw(rt, "taker kind") {
				case 1:
					o.TimeInForce = model.ImmediateOrCancel
				case 2:
					o.TimeInForce = model.FillOrKill
				case 3:
					o.Type, o.TimeInForce = model.OrderMarket, model.ImmediateOrCancel
					if side == model.SideBuy {
						o.Budget = model.U128(rapid.Uint64Range(1, 20_000).Draw(rt, "budget"))
					}
				}
				orders = append(orders, o)
			}
			var outcomes [2]string
			for i, h := range engines {
				h.sink.reset()
				results := h.place(client, orders...)
				for r := range results { // The clock moved by the refused chains before.
					results[r].Timestamp = 0
				}
				cancels := h.canceled()
				slices.SortFunc(cancels, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
				balances := make([][2]uint64, 0, 2*(makers+takers)+2)
				for n := uint64(1); n <= makers+takers; n++ {
					for _, id := range []model.Uint128{traderBase(n), traderQuote(n)} {
						posted, pending := h.balance(id)
						balances = append(balances, [2]uint64{posted, pending})
					}
				}
				for _, id := range []uint64{feeBaseID, feeQuoteID} {
					posted, _ := h.balance(model.U128(id))
					balances = append(balances, [2]uint64{posted, 0})
				}
				outcomes[i] = fmt.Sprintf("results %v\ntrades %v\ncanceled %v\nbids %v\n"+
					"asks %v\nbalances %v", results, h.trades(), cancels,
					h.book(model.SideBuy), h.book(model.SideSell), balances)
			}
			if outcomes[0] != outcomes[1] {
				rt.Fatalf("command %d:\nbefore version 8:\n%s\nversion 8:\n%s", command,
					outcomes[0], outcomes[1])
			}
		}
	})
}

// TestFillOrKillClosedMakerSelfTrade: the fill-or-kill's pre-check of closed accounts
// (rules version 8) must judge a resting order only where a chain would: after
// self-trade prevention. Client 1's fill-or-kill buy (cancel oldest) meets a sell of
// client 3 whose payee account is closed (refused: the pre-check goes on), then client
// 1's own sell on the same trading account but other ledger accounts, closed too, then
// client 4's good sell. Before version 8 (and from it) its own sell is canceled
// canceled_self_trade, not canceled_account, client 3's canceled_account, and the buy
// fills against client 4's.
func TestFillOrKillClosedMakerSelfTrade(t *testing.T) {
	var outcomes [2]string
	for i, shrinks := range []bool{false, true} {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.e.SetRefusalShrinksSteps(shrinks)
		h.trader(1, 0, 100_000)
		h.trader(3, 1_000, 0)
		h.trader(4, 1_000, 0)
		limit := model.AccountDebitsMustNotExceedCredits
		results := make([]model.EventResult, 2)
		h.l.CreateAccountsAs(1, h.clock+1, []model.Account{ // Client 1's other pair.
			{ID: traderBase(9), Ledger: testBaseLedger, Code: 3, Flags: limit},
			{ID: traderQuote(9), Ledger: testQuoteLedger, Code: 3, Flags: limit}}, results)
		h.clock += 2
		if results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
			t.Fatalf("client 1's other accounts: %s, %s", results[0].Status, results[1].Status)
		}
		h.deposit(9, 1_000, 0)
		h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		own := limitOrder(1, 1, model.SideSell, 110, 10)
		own.BaseAccountID, own.QuoteAccountID = traderBase(9), traderQuote(9)
		h.placeOK(1, own)
		h.placeOK(4, limitOrder(4, 1, model.SideSell, 110, 20))
		h.closeAccount(traderQuote(3), testQuoteLedger, bankQuoteID)
		h.closeAccount(traderQuote(9), testQuoteLedger, bankQuoteID)
		h.sink.reset()
		buy := limitOrder(1, 2, model.SideBuy, 110, 20)
		buy.TimeInForce, buy.SelfTrade = model.FillOrKill, model.SelfTradeCancelOldest
		result := h.place(1, buy)[0]
		if result.Status != model.StatusOK {
			t.Fatalf("buy: %s", result.Status)
		}
		outcomes[i] = fmt.Sprintf("trades %v canceled %v asks %v", h.trades(), h.canceled(),
			h.book(model.SideSell))
	}
	want := fmt.Sprintf("trades %v canceled %v asks %v", []trade{{3, 4, 110, 20}},
		[][2]uint64{{1, uint64(model.StatusCanceledAccount)},
			{2, uint64(model.StatusCanceledSelfTrade)}}, [][3]uint64(nil))
	for i, outcome := range outcomes {
		if outcome != want {
			t.Errorf("rules version %d: %s, want %s", 7+i, outcome, want)
		}
	}
}
