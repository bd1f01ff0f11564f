package match

import (
	"reflect"
	"testing"

	"sequent/core/model"
)

// trade is one fill as the maker's report shows it.
type trade struct {
	maker, taker, price, quantity uint64
}

// trades returns the trades reported since the sink was last reset, checking that each
// maker report is followed by the matching taker report.
func (h *harness) trades() []trade {
	h.t.Helper()
	var result []trade
	fills := h.sink.fills()
	for i := 0; i < len(fills); i += 2 {
		maker, taker := fills[i], fills[i+1]
		if maker.Liquidity != model.LiquidityMaker || taker.Liquidity != model.LiquidityTaker ||
			maker.TradeID != taker.TradeID || maker.ContraOrderID != taker.OrderID ||
			taker.ContraOrderID != maker.OrderID || maker.Price != taker.Price ||
			maker.Quantity != taker.Quantity {
			h.t.Fatalf("fill reports do not pair: %+v / %+v", maker, taker)
		}
		result = append(result, trade{maker.OrderID, taker.OrderID, maker.Price, maker.Quantity})
	}
	return result
}

// canceled returns the (order id, reason) of every cancel or expiry reported.
func (h *harness) canceled() [][2]uint64 {
	var result [][2]uint64
	for _, r := range h.sink.reports {
		if r.Kind == model.ReportCanceled || r.Kind == model.ReportExpired {
			result = append(result, [2]uint64{r.OrderID, uint64(r.Status)})
		}
	}
	return result
}

// canceledAccount counts the cancels reported canceled_account to client: its resting
// orders the ledger refused to settle (the account they are paid into closed).
func (h *harness) canceledAccount(client uint64) int {
	count := 0
	for _, r := range h.sink.reports {
		if r.Kind == model.ReportCanceled && r.Client == client &&
			r.Status == model.StatusCanceledAccount {
			count++
		}
	}
	return count
}

func expectEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// matchingWant is what one case of TestMatchingOrderTypes expects.
type matchingWant struct {
	status   model.Status
	trades   []trade
	canceled [][2]uint64
	bids     [][3]uint64
	asks     [][3]uint64
}

// matchingCase is one incoming order of TestMatchingOrderTypes.
type matchingCase struct {
	name  string
	order model.Order
	want  matchingWant
}

// limitCases are the limit-order cases of TestMatchingOrderTypes.
func limitCases() []matchingCase {
	restingBids := [][3]uint64{{1, 100, 40}, {2, 95, 20}}
	restingAsks := [][3]uint64{{3, 110, 30}, {4, 110, 20}, {5, 120, 50}}
	tif := func(o model.Order, tif model.TimeInForce) model.Order {
		o.TimeInForce = tif
		return o
	}
	return []matchingCase{
		{"limit buy rests below the asks", limitOrder(3, 1, model.SideBuy, 105, 30),
			matchingWant{bids: [][3]uint64{{6, 105, 30}, {1, 100, 40}, {2, 95, 20}}, asks: restingAsks}},
		{"limit buy fills across orders and levels, rest rests",
			limitOrder(3, 1, model.SideBuy, 120, 110),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 20}, {5, 6, 120, 50}},
				bids: [][3]uint64{{6, 120, 10}, {1, 100, 40}, {2, 95, 20}}}},
		{"limit sell partially fills the best bid",
			limitOrder(3, 1, model.SideSell, 100, 10),
			matchingWant{trades: []trade{{1, 6, 100, 10}}, bids: [][3]uint64{{1, 100, 30}, {2, 95, 20}},
				asks: restingAsks}},
		{"limit sell stops at its limit and rests",
			limitOrder(3, 1, model.SideSell, 100, 50),
			matchingWant{trades: []trade{{1, 6, 100, 40}}, bids: [][3]uint64{{2, 95, 20}},
				asks: append([][3]uint64{{6, 100, 10}}, restingAsks...)}},
		{"IOC fills what crosses, cancels the rest",
			tif(limitOrder(3, 1, model.SideBuy, 110, 60), model.ImmediateOrCancel),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 20}},
				canceled: [][2]uint64{{6, uint64(model.StatusCanceledUnfilled)}},
				bids:     restingBids, asks: [][3]uint64{{5, 120, 50}}}},
		{"IOC that crosses nothing is canceled",
			tif(limitOrder(3, 1, model.SideBuy, 105, 10), model.ImmediateOrCancel),
			matchingWant{canceled: [][2]uint64{{6, uint64(model.StatusCanceledUnfilled)}},
				bids: restingBids, asks: restingAsks}},
		{"FOK that exactly fills",
			tif(limitOrder(3, 1, model.SideBuy, 120, 100), model.FillOrKill),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 20}, {5, 6, 120, 50}},
				bids: restingBids}},
		{"FOK that cannot fill does nothing",
			tif(limitOrder(3, 1, model.SideBuy, 120, 110), model.FillOrKill),
			matchingWant{canceled: [][2]uint64{{6, uint64(model.StatusCanceledFillOrKill)}},
				bids: restingBids, asks: restingAsks}},
		{"post-only that would cross is rejected",
			tif(limitOrder(3, 1, model.SideBuy, 110, 10), model.PostOnly),
			matchingWant{status: model.StatusPostOnlyWouldCross, bids: restingBids, asks: restingAsks}},
		{"post-only that does not cross rests",
			tif(limitOrder(3, 1, model.SideSell, 105, 10), model.PostOnly),
			matchingWant{bids: restingBids, asks: append([][3]uint64{{6, 105, 10}}, restingAsks...)}},
	}
}

// marketCases are the market-order cases of TestMatchingOrderTypes.
func marketCases() []matchingCase {
	restingBids := [][3]uint64{{1, 100, 40}, {2, 95, 20}}
	restingAsks := [][3]uint64{{3, 110, 30}, {4, 110, 20}, {5, 120, 50}}
	market := func(o model.Order, tif model.TimeInForce, budget uint64) model.Order {
		o.Type, o.TimeInForce, o.Budget = model.OrderMarket, tif, model.U128(budget)
		return o
	}
	return []matchingCase{
		{"market sell down to its worst price",
			market(limitOrder(3, 1, model.SideSell, 95, 70), model.ImmediateOrCancel, 0),
			matchingWant{trades: []trade{{1, 6, 100, 40}, {2, 6, 95, 20}},
				canceled: [][2]uint64{{6, uint64(model.StatusCanceledUnfilled)}},
				asks:     restingAsks}},
		{"market buy stops when its budget is spent",
			// 3 lots at 110 = 330, 2 at 110 = 220: 550 spent; 45 left buys no lot at 120.
			market(limitOrder(3, 1, model.SideBuy, 200, 100), model.ImmediateOrCancel, 595),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 20}},
				canceled: [][2]uint64{{6, uint64(model.StatusCanceledBudget)}},
				bids:     restingBids, asks: [][3]uint64{{5, 120, 50}}}},
		{"market buy whose budget ends inside an order",
			// 3 lots at 110 = 330, then 110 left buys one lot of order 4.
			market(limitOrder(3, 1, model.SideBuy, 200, 100), model.ImmediateOrCancel, 440),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 10}},
				canceled: [][2]uint64{{6, uint64(model.StatusCanceledBudget)}},
				bids:     restingBids, asks: [][3]uint64{{4, 110, 10}, {5, 120, 50}}}},
		{"market FOK within budget",
			market(limitOrder(3, 1, model.SideBuy, 110, 50), model.FillOrKill, 550),
			matchingWant{trades: []trade{{3, 6, 110, 30}, {4, 6, 110, 20}}, bids: restingBids,
				asks: [][3]uint64{{5, 120, 50}}}},
		{"market FOK beyond budget does nothing",
			market(limitOrder(3, 1, model.SideBuy, 110, 50), model.FillOrKill, 549),
			matchingWant{canceled: [][2]uint64{{6, uint64(model.StatusCanceledFillOrKill)}},
				bids: restingBids, asks: restingAsks}},
	}
}

// TestMatchingOrderTypes places a resting book, then one incoming order per case, and
// checks the trades, the cancels, the final book and the incoming order's result. Each
// case runs on a fresh engine; the harness checks every invariant (book, holds, escrows,
// ledger) after every command, so a case also fails if funds go astray.
//
// The resting book (trader 1, asks; trader 2, bids), lots of 10 units:
//
//	asks  110 × 30 (id 3), 110 × 20 (id 4), 120 × 50 (id 5)
//	bids  100 × 40 (id 1),  95 × 20 (id 2)
func TestMatchingOrderTypes(t *testing.T) {
	for _, c := range append(limitCases(), marketCases()...) {
		t.Run(c.name, func(t *testing.T) {
			h := newRestingBook(t)
			result := h.place(3, c.order)[0]
			expectEqual(t, "status", result.Status, c.want.status)
			expectEqual(t, "trades", h.trades(), c.want.trades)
			expectEqual(t, "canceled", h.canceled(), c.want.canceled)
			expectEqual(t, "bids", h.book(model.SideBuy), c.want.bids)
			expectEqual(t, "asks", h.book(model.SideSell), c.want.asks)
			h.expectIdle(3)
		})
	}
}

// newRestingBook returns a harness with traders 1..4 funded and the resting book of
// TestMatchingOrderTypes, and a clean sink.
func newRestingBook(t testing.TB) *harness {
	h := newHarness(t, Config{}, testInstrumentRecord())
	for n := uint64(1); n <= 4; n++ {
		h.trader(n, 100_000, 100_000)
	}
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100, 40))
	h.placeOK(2, limitOrder(2, 2, model.SideBuy, 95, 20))
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 30))
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 110, 20))
	h.placeOK(1, limitOrder(1, 3, model.SideSell, 120, 50))
	h.sink.reset()
	return h
}

// expectIdle checks that trader n holds nothing unless it has open orders, and that its
// pending debits equal the holds of its open orders.
func (h *harness) expectIdle(n uint64) {
	h.t.Helper()
	var base, quote uint64
	for slot := range h.e.orders {
		o := &h.e.orders[slot]
		if o.level == indexNone || o.baseAccountID != traderBase(n) {
			continue
		}
		if o.side == model.SideBuy {
			quote += o.holdAmount.Lo
		} else {
			base += o.holdAmount.Lo
		}
	}
	_, basePending := h.balance(traderBase(n))
	_, quotePending := h.balance(traderQuote(n))
	if basePending != base || quotePending != quote {
		h.t.Fatalf("trader %d pending %d/%d, open holds %d/%d", n, basePending, quotePending,
			base, quote)
	}
}

// TestSettlementBalances checks the money of one trade exactly: who pays what, who
// receives what, what stays held, with price improvement for the taker.
func TestSettlementBalances(t *testing.T) {
	h := newRestingBook(t)
	// Trader 3 buys 40 at up to 120: 30 at 110 (order 3) and 10 at 110 (order 4).
	h.place(3, limitOrder(3, 1, model.SideBuy, 120, 40))
	expectEqual(t, "trades", h.trades(), []trade{{3, 6, 110, 30}, {4, 6, 110, 10}})
	// 4 lots at 110 = 440 quote paid; price improvement (120 - 110) × 4 released.
	base3, pending3 := h.balance(traderBase(3))
	quote3, quotePending3 := h.balance(traderQuote(3))
	expectEqual(t, "trader 3", []uint64{base3, pending3, quote3, quotePending3},
		[]uint64{100_040, 0, 100_000 - 440, 0})
	// Trader 1 sold 40 base for 440 quote; it still holds 10 (order 4) + 50 (order 5).
	base1, pending1 := h.balance(traderBase(1))
	quote1, _ := h.balance(traderQuote(1))
	expectEqual(t, "trader 1", []uint64{base1, pending1, quote1},
		[]uint64{100_000 - 40, 60, 100_000 + 440})
}

// TestInsufficientFunds rejects an order whose hold the ledger refuses, and leaves no
// trace of it: no hold, no order, no id consumed in the book.
func TestInsufficientFunds(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 25, 300)
	// A buy of 3 lots at 100 needs 300: fine; a second needs 300 more: refused.
	h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 30))
	result := h.place(1, limitOrder(1, 2, model.SideBuy, 100, 30))[0]
	expectEqual(t, "status", result.Status, model.StatusInsufficientFunds)
	// A sell of 30 base with only 25: refused.
	result = h.place(1, limitOrder(1, 3, model.SideSell, 200, 30))[0]
	expectEqual(t, "status", result.Status, model.StatusInsufficientFunds)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{1, 100, 30}})
	_, pending := h.balance(traderQuote(1))
	expectEqual(t, "quote pending", pending, uint64(300))
	// A reserve price holds more: 3 lots at 150 = 450 > 0 left.
	h.deposit(1, 0, 400)
	o := limitOrder(1, 4, model.SideBuy, 100, 30)
	o.ReservePrice = 150
	expectEqual(t, "reserve too high", h.place(1, o)[0].Status, model.StatusInsufficientFunds)
	o.ClientOrderID, o.ReservePrice = 5, 130
	h.placeOK(1, o)
	_, pending = h.balance(traderQuote(1))
	expectEqual(t, "quote pending", pending, uint64(300+390))
}
