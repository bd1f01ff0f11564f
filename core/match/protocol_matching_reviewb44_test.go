package match

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// Tests of netio/PROTOCOL.md, "How orders match" (section of the Matching records): each
// drives the engine and checks one statement an independent client may rely on.

// overdueThenFillable rests overdue sells of client 1 at 110 (each 10 units, deadline
// passed, not swept by Expire), then one sell of client 3 behind them at livePrice, and
// moves the clock past the deadline. It returns the harness and the live sell's id.
func overdueThenFillable(t *testing.T, overdue int, livePrice uint64) (*harness, uint64) {
	t.Helper()
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, uint64(10*overdue), 0)
	h.trader(2, 0, 1_000_000)
	h.trader(3, 10, 0)
	deadline := h.clock + 100*uint64(overdue) + 1000
	sells := make([]model.Order, overdue)
	for i := range sells {
		sells[i] = limitOrder(1, uint64(i+1), model.SideSell, 110, 10)
		sells[i].ExpireTimestamp = deadline
	}
	for i, result := range h.place(1, sells...) {
		if result.Status != model.StatusOK {
			t.Fatalf("sell %d: %s", i, result.Status)
		}
	}
	live := h.placeOK(3, limitOrder(3, 1, model.SideSell, livePrice, 10))
	if h.clock >= deadline {
		t.Fatalf("clock %d already at the deadline %d", h.clock, deadline)
	}
	h.clock = deadline // The next command's timestamp is past every deadline.
	h.sink.reset()
	return h, live
}

// TestRefusedMakerCanceledWhenTheTakerIsRefusedToo: PROTOCOL.md, "Refused settlements":
// "When the ledger refuses to settle a fill with a resting order (one of its accounts
// was closed since it rested, say), that order is canceled (canceled_account) and
// matching goes on with the next; when it refuses the incoming order's own settlement,
// the incoming order's rest is canceled (canceled_account)". Client 2's resting buy,
// whose base account (the one it is paid into) it closed since, is replaced to buy 20 and
// cross two sells of 10 at 110: client 1's (its quote account closed too) and client
// 3's, in either order. The ledger refuses the fill with client 1's sell (makers' payouts come before
// the taker's in the chain), then, planning again, the taker's own payout.
//
// From rules version 8 (SetRefusalShrinksSteps) the engine cancels client 1's sell,
// then the taker, both canceled_account, and voids the sell's hold, whichever sell is
// first. Without refusedEnd the sell behind client 3's stayed resting there: the step
// after the refusal holds one fill (client 3's, the one before it) and the refused
// sell's cancel, and is refused for the taker, so that cancel was never applied (with
// client 1's sell first, the shortened step of no fill cancels it before the taker's
// refusal). Under version 7 (logs written before replay so) the refused sell stays
// resting with its hold in both orders. Either way every escrow's pending credits equal
// the holds of the open orders (h.replace runs the invariant checks).
func TestRefusedMakerCanceledWhenTheTakerIsRefusedToo(t *testing.T) {
	for _, refusedFirst := range []bool{true, false} {
		for _, version8 := range []bool{false, true} {
			h := newHarness(t, Config{}, testInstrumentRecord())
			h.e.SetRefusalShrinksSteps(version8)
			h.trader(1, 10, 0)
			h.trader(2, 0, 100_000)
			h.trader(3, 10, 0)
			buy := h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100, 10))
			var refusedSell, liveSell uint64
			if refusedFirst {
				refusedSell = h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
				liveSell = h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
			} else {
				liveSell = h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
				refusedSell = h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
			}
			h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
			h.closeAccount(traderBase(2), testBaseLedger, bankBaseID)
			h.sink.reset()
			result := h.replace(2, model.OrderReplace{ClientOrderID: 2, Account: 1,
				OrderID: buy, Price: 110, Quantity: 20})[0]
			name := fmt.Sprintf("refused first %v, version 8 %v: ", refusedFirst, version8)
			expectEqual(t, name+"replace", result.Status, model.StatusOK)
			expectEqual(t, name+"trades", h.trades(), []trade(nil))
			wantCanceled := [][2]uint64{{buy, uint64(model.StatusCanceledAccount)}}
			wantAsks := [][3]uint64{{refusedSell, 110, 10}, {liveSell, 110, 10}}
			if !refusedFirst {
				wantAsks[0], wantAsks[1] = wantAsks[1], wantAsks[0]
			}
			wantSellHeld := uint64(10)
			if version8 {
				wantCanceled = [][2]uint64{
					{refusedSell, uint64(model.StatusCanceledAccount)},
					{buy, uint64(model.StatusCanceledAccount)}}
				wantAsks = [][3]uint64{{liveSell, 110, 10}}
				wantSellHeld = 0
			}
			expectEqual(t, name+"canceled", h.canceled(), wantCanceled)
			expectEqual(t, name+"asks", h.book(model.SideSell), wantAsks)
			_, held := h.balance(traderBase(1))
			expectEqual(t, name+"refused sell's base held", held, wantSellHeld)
		}
	}
}

// reportsOf returns (kind, status, client order id) of every report about order id.
func (h *harness) reportsOf(id uint64) [][3]uint64 {
	var result [][3]uint64
	for _, r := range h.sink.reports {
		if r.OrderID == id {
			result = append(result, [3]uint64{uint64(r.Kind), uint64(r.Status), r.ClientOrderID})
		}
	}
	return result
}

// TestProtocolPriorityPriceAndReportOrder: best price first, then the oldest order at a
// price; each trade at the maker's price; the accepted report first, then per fill the
// maker's report before the taker's; a good-till-cancel rests what is left (no report).
func TestProtocolPriorityPriceAndReportOrder(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 0)
	h.trader(2, 0, 100_000)
	h.trader(3, 10_000, 0)
	worse := h.placeOK(1, limitOrder(1, 1, model.SideSell, 115, 10))
	older := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
	newer := h.placeOK(1, limitOrder(1, 2, model.SideSell, 110, 10))
	h.sink.reset()
	buy := h.placeOK(2, limitOrder(2, 1, model.SideBuy, 120, 40))
	expectEqual(t, "trades", h.trades(), []trade{{older, buy, 110, 10}, {newer, buy, 110, 10},
		{worse, buy, 115, 10}})
	var sequence [][2]uint64 // (order id, kind)
	for _, r := range h.sink.reports {
		sequence = append(sequence, [2]uint64{r.OrderID, uint64(r.Kind)})
	}
	fill := uint64(model.ReportFill)
	expectEqual(t, "reports", sequence, [][2]uint64{{buy, uint64(model.ReportAccepted)},
		{older, fill}, {buy, fill}, {newer, fill}, {buy, fill}, {worse, fill}, {buy, fill}})
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{buy, 120, 10}})
}

// TestProtocolPostOnlyAndOverdueOrders: a post-only order is refused post_only_would_cross
// when the other side's best price crosses it, the crossing order being overdue (not
// swept yet) and the client's own included; an overdue order is order_not_found to a
// replace, canceled (canceled_by_client) by a cancel, and expired (not traded) by an
// incoming order that meets it.
func TestProtocolPostOnlyAndOverdueOrders(t *testing.T) {
	h, live := overdueThenFillable(t, 2, 115)
	postOnly := limitOrder(1, 10, model.SideBuy, 110, 10)
	postOnly.TimeInForce = model.PostOnly
	h.deposit(1, 0, 10_000)
	expectEqual(t, "post-only", h.place(1, postOnly)[0].Status, model.StatusPostOnlyWouldCross)
	expectEqual(t, "replace overdue", h.replace(1, model.OrderReplace{ClientOrderID: 11,
		Account: 1, OrderID: 1, Price: 105, Quantity: 10})[0].Status, model.StatusOrderNotFound)
	h.sink.reset()
	expectEqual(t, "cancel overdue", h.cancel(1, model.OrderCancel{ClientOrderID: 12,
		Account: 1, OrderID: 1})[0].Status, model.StatusOK)
	expectEqual(t, "cancel report", h.reportsOf(1), [][3]uint64{{uint64(model.ReportCanceled),
		uint64(model.StatusCanceledByClient), 12}})
	h.sink.reset()
	ioc := limitOrder(2, 1, model.SideBuy, 115, 20)
	ioc.TimeInForce = model.ImmediateOrCancel
	result := h.place(2, ioc)[0]
	expectEqual(t, "overdue met", h.reportsOf(2), [][3]uint64{{uint64(model.ReportExpired),
		uint64(model.StatusExpired), 2}})
	expectEqual(t, "trades", h.trades(), []trade{{live, result.OrderID, 115, 10}})
	expectEqual(t, "ioc reports", h.reportsOf(result.OrderID), [][3]uint64{
		{uint64(model.ReportAccepted), 0, 1}, {uint64(model.ReportFill), 0, 1},
		{uint64(model.ReportCanceled), uint64(model.StatusCanceledUnfilled), 1}})
}

// TestProtocolSelfTradeModes: between orders of one client and trading account, by the
// incoming order's mode; another trading account of the client trades; a fill-or-kill
// meeting its own order under cancel newest or cancel both is canceled_fill_or_kill and
// cancels nothing.
func TestProtocolSelfTradeModes(t *testing.T) {
	type want struct {
		canceled [][2]uint64
		trades   int
		asks     int
	}
	cases := []struct {
		name string
		mode model.SelfTradeMode
		tif  model.TimeInForce
		want want
	}{
		// Asks: order 1 (client 3, 10 @110), order 2 (client 1 account 1, 10 @110), order 3
		// (client 3, 10 @110). Buy of client 1 account 1: order 4, 30 @110.
		{"newest", model.SelfTradeDefault, model.GoodTillCancel,
			want{[][2]uint64{{4, uint64(model.StatusCanceledSelfTrade)}}, 1, 2}},
		{"oldest", model.SelfTradeCancelOldest, model.GoodTillCancel,
			want{[][2]uint64{{2, uint64(model.StatusCanceledSelfTrade)}}, 2, 0}},
		{"both", model.SelfTradeCancelBoth, model.GoodTillCancel,
			want{[][2]uint64{{2, uint64(model.StatusCanceledSelfTrade)},
				{4, uint64(model.StatusCanceledSelfTrade)}}, 1, 1}},
		{"fok newest", model.SelfTradeCancelNewest, model.FillOrKill,
			want{[][2]uint64{{4, uint64(model.StatusCanceledFillOrKill)}}, 0, 3}},
		{"fok both", model.SelfTradeCancelBoth, model.FillOrKill,
			want{[][2]uint64{{4, uint64(model.StatusCanceledFillOrKill)}}, 0, 3}},
	}
	for _, c := range cases {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 10_000, 100_000)
		h.trader(3, 10_000, 0)
		h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
		h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
		h.placeOK(3, limitOrder(3, 2, model.SideSell, 110, 10))
		h.sink.reset()
		buy := limitOrder(1, 2, model.SideBuy, 110, 30)
		buy.SelfTrade, buy.TimeInForce = c.mode, c.tif
		h.placeOK(1, buy)
		expectEqual(t, c.name+" canceled", h.canceled(), c.want.canceled)
		expectEqual(t, c.name+" trades", len(h.trades()), c.want.trades)
		expectEqual(t, c.name+" asks", len(h.book(model.SideSell)), c.want.asks)
	}
	// Another trading account of the same client trades with it.
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	sell := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
	buy := limitOrder(1, 1, model.SideBuy, 110, 10)
	buy.Account = 2
	h.sink.reset()
	id := h.placeOK(1, buy)
	expectEqual(t, "other account trades", h.trades(), []trade{{sell, id, 110, 10}})
}

// TestProtocolMarketBuyBudget: a market buy takes at each resting order the whole lots
// its budget left pays for there, stops at the first it falls short of, and its rest is
// canceled_budget when the budget left cannot pay one lot at its price, else
// canceled_unfilled.
func TestProtocolMarketBuyBudget(t *testing.T) {
	for _, c := range []struct {
		budget, worst uint64
		trades        []trade
		reason        model.Status
	}{
		// Asks: 1 = 20 @100 (two lots), 2 = 20 @105. Budget 310: two lots at 100 (200),
		// 110 left pays one lot at 105, 5 left: short of a lot at 110, canceled_budget.
		{310, 110, []trade{{1, 3, 100, 20}, {2, 3, 105, 10}}, model.StatusCanceledBudget},
		// Budget 150 at worst price 100: one lot at 100, 50 left, below a lot at 100.
		{150, 100, []trade{{1, 3, 100, 10}}, model.StatusCanceledBudget},
		// Budget 1,000 at worst price 100: both lots at 100, 800 left pays lots at 100, but
		// no ask is left at or below 100: canceled_unfilled.
		{1000, 100, []trade{{1, 3, 100, 20}}, model.StatusCanceledUnfilled},
	} {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 10_000, 0)
		h.trader(2, 0, 100_000)
		h.placeOK(1, limitOrder(1, 1, model.SideSell, 100, 20))
		h.placeOK(1, limitOrder(1, 2, model.SideSell, 105, 20))
		h.sink.reset()
		market := limitOrder(2, 1, model.SideBuy, c.worst, 100)
		market.Type, market.TimeInForce = model.OrderMarket, model.ImmediateOrCancel
		market.Budget = model.U128(c.budget)
		id := h.placeOK(2, market)
		expectEqual(t, "trades", h.trades(), c.trades)
		expectEqual(t, "canceled", h.canceled(), [][2]uint64{{id, uint64(c.reason)}})
	}
}

// TestProtocolReplacePriorityAndKeys: a replace at the same price to a total at or below
// the current keeps the order's place; a larger total sends it to the back; a crossing
// price trades it as a taker after its replaced report. The order is named by the key of
// its last accepted replace (the placing key, superseded, is order_not_found), its fill
// reports carry that key, and a cancel's canceled report carries the cancel's own key.
func TestProtocolReplacePriorityAndKeys(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 0)
	h.trader(2, 0, 100_000)
	h.trader(3, 10_000, 0)
	first := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 30))
	second := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 20))
	expectEqual(t, "reduce", h.replace(1, model.OrderReplace{ClientOrderID: 2, Account: 1,
		OrderID: first, Price: 110, Quantity: 20})[0].Status, model.StatusOK)
	expectEqual(t, "kept place", h.book(model.SideSell), [][3]uint64{{first, 110, 20},
		{second, 110, 20}})
	expectEqual(t, "grow", h.replace(1, model.OrderReplace{ClientOrderID: 3, Account: 1,
		OrderID: 0, OriginalClientOrderID: 2, Price: 110, Quantity: 40})[0].Status,
		model.StatusOK)
	expectEqual(t, "lost place", h.book(model.SideSell), [][3]uint64{{second, 110, 20},
		{first, 110, 40}})
	expectEqual(t, "superseded key", h.cancel(1, model.OrderCancel{ClientOrderID: 4,
		Account: 1, OriginalClientOrderID: 2})[0].Status, model.StatusOrderNotFound)
	bid := h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100, 10))
	h.sink.reset()
	expectEqual(t, "cross", h.replace(1, model.OrderReplace{ClientOrderID: 5, Account: 1,
		OrderID: 0, OriginalClientOrderID: 3, Price: 100, Quantity: 40})[0].Status,
		model.StatusOK)
	fill := uint64(model.ReportFill)
	expectEqual(t, "replaced then fill", h.reportsOf(first), [][3]uint64{
		{uint64(model.ReportReplaced), 0, 5}, {fill, 0, 5}})
	expectEqual(t, "taker", h.trades(), []trade{{bid, first, 100, 10}})
	if r := h.sink.fills()[1]; r.Liquidity != model.LiquidityTaker || r.OrderID != first {
		t.Fatalf("replaced order's fill: %+v", r)
	}
	h.sink.reset()
	expectEqual(t, "cancel by current key", h.cancel(1, model.OrderCancel{ClientOrderID: 6,
		Account: 1, OriginalClientOrderID: 5})[0].Status, model.StatusOK)
	expectEqual(t, "cancel report key", h.reportsOf(first), [][3]uint64{
		{uint64(model.ReportCanceled), uint64(model.StatusCanceledByClient), 6}})
}

// TestProtocolDeadlines: only good-till-cancel and post-only orders take a deadline (an
// immediate-or-cancel one is expire_timestamp_invalid); a replace keeps it, also one that
// sends the order to the back at a new price; Expire at the deadline expires the order
// (report kind expired, status expired) carrying its current key.
func TestProtocolDeadlines(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 0)
	ioc := limitOrder(1, 1, model.SideSell, 110, 10)
	ioc.TimeInForce, ioc.ExpireTimestamp = model.ImmediateOrCancel, h.clock+1000
	expectEqual(t, "ioc deadline", h.place(1, ioc)[0].Status, model.StatusExpireTimestampInvalid)
	gtc := limitOrder(1, 2, model.SideSell, 110, 10)
	gtc.ExpireTimestamp = h.clock + 1000
	id := h.placeOK(1, gtc)
	h.placeOK(1, limitOrder(1, 3, model.SideSell, 120, 10))
	expectEqual(t, "replace", h.replace(1, model.OrderReplace{ClientOrderID: 4, Account: 1,
		OrderID: id, Price: 120, Quantity: 20})[0].Status, model.StatusOK)
	h.sink.reset()
	if count := h.e.Expire(&h.clock, gtc.ExpireTimestamp-1, &h.sink); count != 0 {
		t.Fatalf("%d expired before the deadline", count)
	}
	if count := h.e.Expire(&h.clock, gtc.ExpireTimestamp, &h.sink); count != 1 {
		t.Fatalf("%d expired at the deadline", count)
	}
	expectEqual(t, "expired", h.reportsOf(id), [][3]uint64{{uint64(model.ReportExpired),
		uint64(model.StatusExpired), 4}})
}

// TestProtocolFillOrKillKilledLeavesTheBook: a fill-or-kill that cannot fill completely
// changes nothing of the book, not even a resting order whose settlement the ledger
// refused on the way (its account closed), which stays until an order that does trade
// meets it; one that can fill completely past such an order cancels it
// (canceled_account) and fills.
func TestProtocolFillOrKillKilledLeavesTheBook(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10, 0)
	h.trader(2, 0, 100_000)
	h.trader(3, 10, 0)
	closed := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
	live := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	fok := limitOrder(2, 1, model.SideBuy, 110, 20)
	fok.TimeInForce = model.FillOrKill
	id := h.placeOK(2, fok)
	expectEqual(t, "killed", h.canceled(), [][2]uint64{{id,
		uint64(model.StatusCanceledFillOrKill)}})
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64{{closed, 110, 10},
		{live, 110, 10}})
	h.sink.reset()
	fok.ClientOrderID, fok.Quantity = 2, 10
	id = h.placeOK(2, fok)
	expectEqual(t, "canceled", h.canceled(), [][2]uint64{{closed,
		uint64(model.StatusCanceledAccount)}})
	expectEqual(t, "trades", h.trades(), []trade{{live, id, 110, 10}})
}

// TestProtocolCanceledReportKeys: the canceled report of a mass_cancel carries the mass
// cancel's key, of an operator's cancel of another client's order the operator's key
// (the report going to the owner), of cancel-on-disconnect the order's own key; a
// refused cancel's rejected report carries the refused command's key.
func TestProtocolCanceledReportKeys(t *testing.T) {
	const operator = 9
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 0)
	if err := h.l.SetGrants([]model.Grant{{Client: operator,
		Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	massed := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
	h.sink.reset()
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, []model.MassCancel{{ClientOrderID: 2, Account: 1}}, results,
		&h.sink)
	h.check()
	expectEqual(t, "mass cancel", h.reportsOf(massed), [][3]uint64{
		{uint64(model.ReportCanceled), uint64(model.StatusCanceledMass), 2}})
	byOperator := h.placeOK(1, limitOrder(1, 3, model.SideSell, 110, 10))
	h.sink.reset()
	expectEqual(t, "operator cancel", h.cancel(operator, model.OrderCancel{ClientOrderID: 77,
		Account: 5, OrderID: byOperator})[0].Status, model.StatusOK)
	expectEqual(t, "operator report", h.reportsOf(byOperator), [][3]uint64{
		{uint64(model.ReportCanceled), uint64(model.StatusCanceledByClient), 77}})
	if owner := h.sink.reports[0].Client; owner != 1 {
		t.Fatalf("operator's cancel reported to client %d", owner)
	}
	disconnected := h.placeOK(1, limitOrder(1, 4, model.SideSell, 110, 10))
	h.sink.reset()
	h.e.CancelAllForClient(&h.clock, 1, &h.sink)
	h.check()
	expectEqual(t, "disconnect", h.reportsOf(disconnected), [][3]uint64{
		{uint64(model.ReportCanceled), uint64(model.StatusCanceledDisconnect), 4}})
	h.sink.reset()
	expectEqual(t, "refused cancel", h.cancel(1, model.OrderCancel{ClientOrderID: 5,
		Account: 1, OrderID: disconnected})[0].Status, model.StatusOrderNotFound)
	expectEqual(t, "rejected report", h.reportsOf(disconnected), [][3]uint64{
		{uint64(model.ReportRejected), uint64(model.StatusOrderNotFound), 5}})
}

// TestProtocolExpiryPerEntryBound: at most 8,189 orders expire per log entry (one Expire
// call: core calls it once at the start of each entry); the rest expire with the next.
func TestProtocolExpiryPerEntryBound(t *testing.T) {
	if ExpiriesPerPulseMax != 8189 {
		t.Fatalf("ExpiriesPerPulseMax %d, PROTOCOL.md says 8,189", ExpiriesPerPulseMax)
	}
	const count = ExpiriesPerPulseMax + 1
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10*count, 0)
	deadline := h.clock + 1_000_000
	for first := 0; first < count; first += model.EventsPerRequestMax {
		orders := make([]model.Order, min(model.EventsPerRequestMax, count-first))
		for i := range orders {
			orders[i] = limitOrder(1, uint64(first+i+1), model.SideSell, 110, 10)
			orders[i].ExpireTimestamp = deadline
		}
		for i, result := range h.place(1, orders...) {
			if result.Status != model.StatusOK {
				t.Fatalf("order %d: %s", first+i, result.Status)
			}
		}
	}
	h.sink.reset()
	expectEqual(t, "first entry", h.e.Expire(&h.clock, deadline, &h.sink), ExpiriesPerPulseMax)
	expectEqual(t, "open", h.e.OpenOrderCount(), 1)
	expectEqual(t, "second entry", h.e.Expire(&h.clock, deadline+1, &h.sink), 1)
	expired := 0
	for _, r := range h.sink.reports {
		if r.Kind == model.ReportExpired && r.Status == model.StatusExpired {
			expired++
		}
	}
	expectEqual(t, "expired reports", expired, count)
}

// TestProtocolCancelsReportedFirstInAStep: within a step the resting orders it cancels
// are reported before its fills, even one met after a fill (cancel oldest here).
func TestProtocolCancelsReportedFirstInAStep(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 100_000)
	h.trader(3, 10_000, 0)
	first := h.placeOK(3, limitOrder(3, 1, model.SideSell, 110, 10))
	own := h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 10))
	last := h.placeOK(3, limitOrder(3, 2, model.SideSell, 110, 10))
	h.sink.reset()
	buy := limitOrder(1, 2, model.SideBuy, 110, 20)
	buy.SelfTrade = model.SelfTradeCancelOldest
	id := h.placeOK(1, buy)
	var sequence [][3]uint64 // (order id, kind, status)
	for _, r := range h.sink.reports {
		sequence = append(sequence, [3]uint64{r.OrderID, uint64(r.Kind), uint64(r.Status)})
	}
	fill := uint64(model.ReportFill)
	expectEqual(t, "reports", sequence, [][3]uint64{{id, uint64(model.ReportAccepted), 0},
		{own, uint64(model.ReportCanceled), uint64(model.StatusCanceledSelfTrade)},
		{first, fill, 0}, {id, fill, 0}, {last, fill, 0}, {id, fill, 0}})
}
