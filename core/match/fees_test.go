package match

import (
	"testing"

	"sequent/core/model"
)

// feeInstrument charges makers 10 and takers 25 basis points.
func feeInstrument() model.Instrument {
	x := testInstrumentRecord()
	x.MakerFeeBasisPoints, x.TakerFeeBasisPoints = 10, 25
	x.FeeBaseAccountID, x.FeeQuoteAccountID = model.U128(feeBaseID), model.U128(feeQuoteID)
	x.QuantityMax = 1_000_000
	return x
}

// TestFeeFormula checks feeOf, including the rounding rule (down) and the largest amounts.
func TestFeeFormula(t *testing.T) {
	cases := []struct {
		amount      model.Uint128
		basisPoints uint16
		fee         model.Uint128
	}{
		{model.U128(86_415), 10, model.U128(86)},   // 86.415
		{model.U128(9_999), 1, model.U128(0)},      // 0.9999
		{model.U128(10_000), 1, model.U128(1)},     // exactly 1
		{model.U128(123), 10_000, model.U128(123)}, // the whole amount
		{model.U128(123), 0, model.U128(0)},
		{model.Uint128Max, 10_000, model.Uint128Max},
		// (2^128-1) × 5000 / 10000 rounded down = 2^127 - 1.
		{model.Uint128Max, 5_000, model.Uint128{Lo: ^uint64(0), Hi: 1<<63 - 1}},
	}
	for _, c := range cases {
		expectEqual(t, c.amount.String(), feeOf(c.amount, c.basisPoints), c.fee)
	}
}

// TestFeesSettle: each side pays its fee in what it receives, rounded down per fill; the
// fee accounts get exactly the fees and no unit is created or destroyed.
func TestFeesSettle(t *testing.T) {
	x := feeInstrument()
	x.TakerFeeBasisPoints = 2_500 // 25%: makes per-fill rounding visible on small fills.
	h := newHarness(t, Config{}, x)
	h.trader(1, 100_000, 10_000_000)
	h.trader(2, 100_000, 10_000_000)
	// Two asks of 10 at 12,345 per lot (1 lot each): each fill's notional is 12,345.
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 12_345, 10))
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 12_345, 10))
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 12_345, 20))
	// Maker (seller) fee per fill: floor(12,345 × 10 / 10,000) = 12 quote.
	// Taker (buyer) fee per fill: floor(10 × 2,500 / 10,000) = 2 base (not 2.5): 4 in all,
	// where rounding the sum would have charged 5.
	fees := []uint64{}
	for _, r := range h.sink.fills() {
		fees = append(fees, r.Fee.Lo)
	}
	expectEqual(t, "fees per report (maker, taker, maker, taker)", fees, []uint64{12, 2, 12, 2})
	feeBase, _ := h.balance(model.U128(feeBaseID))
	feeQuote, _ := h.balance(model.U128(feeQuoteID))
	expectEqual(t, "fee accounts", []uint64{feeBase, feeQuote}, []uint64{4, 24})
	base1, _ := h.balance(traderBase(1))
	quote1, _ := h.balance(traderQuote(1))
	base2, _ := h.balance(traderBase(2))
	quote2, _ := h.balance(traderQuote(2))
	expectEqual(t, "seller", []uint64{base1, quote1}, []uint64{100_000 - 20, 10_000_000 + 24_690 - 24})
	expectEqual(t, "buyer", []uint64{base2, quote2}, []uint64{100_000 + 20 - 4, 10_000_000 - 24_690})
	// Conservation, per ledger: what the banks paid out is all with traders and fees.
	expectEqual(t, "base conserved", base1+base2+feeBase, uint64(200_000))
	expectEqual(t, "quote conserved", quote1+quote2+feeQuote, uint64(20_000_000))
}

// TestFeeAccountClosed: when the fee account refuses a fee, the trade still happens and
// fees are waived for that command.
func TestFeeAccountClosed(t *testing.T) {
	h := newHarness(t, Config{}, feeInstrument())
	h.trader(1, 100_000, 10_000_000)
	h.trader(2, 100_000, 10_000_000)
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 100_000, 10))
	h.closeAccount(model.U128(feeQuoteID), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	h.placeOK(2, limitOrder(2, 1, model.SideBuy, 100_000, 10))
	expectEqual(t, "trades", h.trades(), []trade{{1, 2, 100_000, 10}})
	for _, r := range h.sink.fills() {
		expectEqual(t, "fee", r.Fee, model.Uint128{})
	}
	quote1, _ := h.balance(traderQuote(1))
	expectEqual(t, "seller paid in full", quote1, uint64(10_000_000+100_000))
}

// TestMarketData: a trade is published with its print, then each changed level once with
// its new total, every update carrying the top of book; sequences have no gaps.
func TestMarketData(t *testing.T) {
	h := newRestingBook(t)
	sequence := h.e.instruments[0].marketDataSequence
	h.place(3, limitOrder(3, 1, model.SideBuy, 110, 40))
	type update struct {
		kind     model.MarketDataKind
		side     model.Side
		price    uint64
		quantity uint64
		count    uint32
	}
	var got []update
	for i, u := range h.sink.updates {
		expectEqual(t, "sequence", u.Sequence, sequence+uint64(i)+1)
		top := [4]uint64{u.BidPrice, u.BidQuantity.Lo, u.AskPrice, u.AskQuantity.Lo}
		expectEqual(t, "top of book", top, [4]uint64{100, 40, 110, 10})
		got = append(got, update{u.Kind, u.Side, u.Price, u.Quantity.Lo, u.OrderCount})
	}
	expectEqual(t, "updates", got, []update{
		{model.MarketDataTrade, model.SideBuy, 110, 30, 0},
		{model.MarketDataTrade, model.SideBuy, 110, 10, 0},
		{model.MarketDataLevel, model.SideSell, 110, 10, 1},
	})
}

// TestMarketDataOfMoves: a move publishes the old level's new total (0 when it is gone)
// and the new one's, in price order, whether the level is re-priced in place (the order
// was alone and nothing lies between) or the order changes levels.
func TestMarketDataOfMoves(t *testing.T) {
	h := newRestingBook(t)
	levels := func() [][3]uint64 {
		var result [][3]uint64
		for _, u := range h.sink.updates {
			result = append(result, [3]uint64{uint64(u.Side), u.Price, u.Quantity.Lo})
		}
		h.sink.reset()
		return result
	}
	buy := uint64(model.SideBuy)
	// Alone at 100, with no better bid and 95 below: re-priced in place to 105.
	h.replace(2, model.OrderReplace{ClientOrderID: 10, Account: 1, OrderID: 1, Price: 105,
		Quantity: 40})
	expectEqual(t, "in place", levels(), [][3]uint64{{buy, 100, 0}, {buy, 105, 40}})
	// Past its neighbour at 95: a new level at 90, and 105 gone.
	h.replace(2, model.OrderReplace{ClientOrderID: 11, Account: 1, OrderID: 1, Price: 90,
		Quantity: 30})
	expectEqual(t, "new level", levels(), [][3]uint64{{buy, 90, 30}, {buy, 105, 0}})
	// Onto an existing level: 95 now holds both.
	h.replace(2, model.OrderReplace{ClientOrderID: 12, Account: 1, OrderID: 1, Price: 95,
		Quantity: 30})
	expectEqual(t, "joins a level", levels(), [][3]uint64{{buy, 90, 0}, {buy, 95, 50}})
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{2, 95, 20}, {1, 95, 30}})
}

// TestQueries covers lookup_orders (own orders only), get_account_orders (paging and
// filters) and get_depth.
func TestQueries(t *testing.T) {
	h := newRestingBook(t)
	states := h.e.LookupOrders(1, []uint64{3, 1, 5, 99}, nil)
	ids := []uint64{}
	for _, s := range states {
		ids = append(ids, s.OrderID)
	}
	expectEqual(t, "lookup (order 1 is client 2's)", ids, []uint64{3, 5})
	expectEqual(t, "state", states[1], model.OrderState{OrderID: 5, ClientOrderID: 3,
		Client: 1, Account: 1, BaseAccountID: traderBase(1), QuoteAccountID: traderQuote(1),
		Price: 120, Quantity: 50, LeavesQuantity: 50, Instrument: testInstrument,
		Side: model.SideSell, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel,
		SelfTrade: model.SelfTradeCancelNewest, Timestamp: states[1].Timestamp})
	page, status := h.e.AccountOrders(1, &model.OrderFilter{Account: 1, AfterOrderID: 3,
		Limit: 1}, nil)
	expectEqual(t, "page", []uint64{page[0].OrderID, uint64(len(page))}, []uint64{4, 1})
	expectEqual(t, "status", status, model.StatusOK)
	_, status = h.e.AccountOrders(1, &model.OrderFilter{Account: 1}, nil)
	expectEqual(t, "zero limit", status, model.StatusInvalidFilterMatch)
	depth, _ := h.e.Depth(&model.DepthFilter{Instrument: testInstrument, Levels: 1}, nil)
	expectEqual(t, "depth", depth, []model.DepthLevel{
		{Price: 100, Quantity: model.U128(40), OrderCount: 1, Side: model.SideBuy},
		{Price: 110, Quantity: model.U128(50), OrderCount: 2, Side: model.SideSell}})
	_, status = h.e.Depth(&model.DepthFilter{Instrument: 99, Levels: 1}, nil)
	expectEqual(t, "depth of an unknown instrument", status, model.StatusInstrumentNotFound)
	found := h.e.LookupInstruments([]uint32{99, testInstrument}, nil)
	expectEqual(t, "instruments", len(found), 1)
}
