package match

import (
	"testing"

	"sequent/core/model"
)

// TestSelfTradePrevention checks each mode against the same book: client 1 (account 1)
// rests an ask of 30 at 110 (order 1) ahead of client 2's ask of 20 at 110 (order 2); then
// client 1 buys 40 at 110 with the mode under test (order 3).
func TestSelfTradePrevention(t *testing.T) {
	selfTrade := uint64(model.StatusCanceledSelfTrade)
	cases := []struct {
		name     string
		mode     model.SelfTradeMode
		account  uint64
		trades   []trade
		canceled [][2]uint64
		bids     [][3]uint64
		asks     [][3]uint64
	}{
		{"default is cancel newest", model.SelfTradeDefault, 1, nil,
			[][2]uint64{{3, selfTrade}}, nil, [][3]uint64{{1, 110, 30}, {2, 110, 20}}},
		{"cancel newest", model.SelfTradeCancelNewest, 1, nil,
			[][2]uint64{{3, selfTrade}}, nil, [][3]uint64{{1, 110, 30}, {2, 110, 20}}},
		{"cancel oldest goes on matching", model.SelfTradeCancelOldest, 1,
			[]trade{{2, 3, 110, 20}}, [][2]uint64{{1, selfTrade}},
			[][3]uint64{{3, 110, 20}}, nil},
		{"cancel both", model.SelfTradeCancelBoth, 1, nil,
			[][2]uint64{{1, selfTrade}, {3, selfTrade}}, nil, [][3]uint64{{2, 110, 20}}},
		{"another account of the same client trades", model.SelfTradeCancelNewest, 2,
			[]trade{{1, 3, 110, 30}, {2, 3, 110, 10}}, nil, nil, [][3]uint64{{2, 110, 10}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{}, testInstrumentRecord())
			h.trader(1, 10_000, 10_000)
			h.trader(2, 10_000, 10_000)
			h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 30))
			h.placeOK(2, limitOrder(2, 1, model.SideSell, 110, 20))
			h.sink.reset()
			o := limitOrder(1, 2, model.SideBuy, 110, 40)
			o.SelfTrade, o.Account = c.mode, c.account
			h.placeOK(1, o)
			expectEqual(t, "trades", h.trades(), c.trades)
			expectEqual(t, "canceled", h.canceled(), c.canceled)
			expectEqual(t, "bids", h.book(model.SideBuy), c.bids)
			expectEqual(t, "asks", h.book(model.SideSell), c.asks)
			h.expectIdle(1)
		})
	}
}

// TestSelfTradeAfterFills: the taker trades with another client's order first, then meets
// its own and (cancel newest) its rest is canceled; the fill stands.
func TestSelfTradeAfterFills(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 10_000)
	h.trader(2, 10_000, 10_000)
	h.placeOK(2, limitOrder(2, 1, model.SideSell, 110, 20))
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 110, 30))
	h.sink.reset()
	h.placeOK(1, limitOrder(1, 2, model.SideBuy, 110, 40))
	expectEqual(t, "trades", h.trades(), []trade{{1, 3, 110, 20}})
	expectEqual(t, "canceled", h.canceled(),
		[][2]uint64{{3, uint64(model.StatusCanceledSelfTrade)}})
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64{{2, 110, 30}})
	h.expectIdle(1)
}

// TestReplacePriority checks the priority rules of cancel-replace on two bids of 30 at
// 100 (orders 1 then 2), with a sell of 20 at 100 afterwards showing who is first.
func TestReplacePriority(t *testing.T) {
	cases := []struct {
		name    string
		replace model.OrderReplace
		bids    [][3]uint64 // After the replace.
		trades  []trade     // Of the sell that follows.
	}{
		{"reducing keeps priority", model.OrderReplace{Price: 100, Quantity: 20},
			[][3]uint64{{1, 100, 20}, {2, 100, 30}}, []trade{{1, 3, 100, 20}}},
		{"same quantity keeps priority", model.OrderReplace{Price: 100, Quantity: 30},
			[][3]uint64{{1, 100, 30}, {2, 100, 30}}, []trade{{1, 3, 100, 20}}},
		{"raising loses priority", model.OrderReplace{Price: 100, Quantity: 40},
			[][3]uint64{{2, 100, 30}, {1, 100, 40}}, []trade{{2, 3, 100, 20}}},
		{"a better price moves it ahead", model.OrderReplace{Price: 105, Quantity: 30},
			[][3]uint64{{1, 105, 30}, {2, 100, 30}}, []trade{{1, 3, 105, 20}}},
		{"a worse price moves it behind", model.OrderReplace{Price: 95, Quantity: 30},
			[][3]uint64{{2, 100, 30}, {1, 95, 30}}, []trade{{2, 3, 100, 20}}},
		{"a new reserve price alone keeps priority", model.OrderReplace{Price: 100, Quantity: 30,
			ReservePrice: 120}, [][3]uint64{{1, 100, 30}, {2, 100, 30}}, []trade{{1, 3, 100, 20}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{}, testInstrumentRecord())
			h.trader(1, 10_000, 10_000)
			h.trader(2, 10_000, 10_000)
			h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 30))
			h.placeOK(1, limitOrder(1, 2, model.SideBuy, 100, 30))
			r := c.replace
			r.ClientOrderID, r.Account, r.OrderID = 3, 1, 1
			result := h.replace(1, r)[0]
			expectEqual(t, "replace", result, model.OrderResult{OrderID: 1,
				Timestamp: result.Timestamp, Status: model.StatusOK})
			expectEqual(t, "bids", h.book(model.SideBuy), c.bids)
			h.sink.reset()
			h.placeOK(2, limitOrder(2, 1, model.SideSell, 95, 20))
			expectEqual(t, "trades", h.trades(), c.trades)
			h.expectIdle(1)
		})
	}
}

// TestReplaceCrossesAndTrades: a bid replaced to a crossing price trades as a taker at the
// ask's price, and its rest rests at the new price.
func TestReplaceCrossesAndTrades(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 10_000, 10_000)
	h.trader(2, 10_000, 10_000)
	h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 30))
	h.placeOK(2, limitOrder(2, 1, model.SideSell, 110, 20))
	h.sink.reset()
	h.replace(1, model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: 1, Price: 115,
		Quantity: 30})
	expectEqual(t, "trades", h.trades(), []trade{{2, 1, 110, 20}})
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{1, 115, 10}})
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64(nil))
	// Now 20 of 30 are filled: the total may not go to 20 or below.
	result := h.replace(1, model.OrderReplace{ClientOrderID: 3, Account: 1, OrderID: 1,
		Price: 115, Quantity: 20})[0]
	expectEqual(t, "status", result.Status, model.StatusReplaceQuantityInvalid)
	h.replace(1, model.OrderReplace{ClientOrderID: 4, Account: 1, OrderID: 1, Price: 115,
		Quantity: 50})
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{1, 115, 30}})
	h.expectIdle(1)
}

// TestReplaceHolds checks when a replace touches the ledger: a sell's hold depends on its
// quantity only, a buy's on its reserve price and quantity; a refused new hold leaves the
// order as it was.
func TestReplaceHolds(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 100, 1000)
	h.placeOK(1, limitOrder(1, 1, model.SideSell, 200, 50))
	buy := limitOrder(1, 2, model.SideBuy, 100, 50)
	buy.ReservePrice = 150 // Holds 5 lots × 150 = 750.
	h.placeOK(1, buy)
	transfers := h.l.TransferCount()
	h.replace(1, model.OrderReplace{ClientOrderID: 3, Account: 1, OrderID: 1, Price: 250,
		Quantity: 50})
	h.replace(1, model.OrderReplace{ClientOrderID: 4, Account: 1, OrderID: 2, Price: 140,
		Quantity: 50, ReservePrice: 150})
	expectEqual(t, "ledger transfers after moves within the holds", h.l.TransferCount(),
		transfers)
	// Without a reserve price the hold follows the price: 5 × 120 = 600 (one release of
	// 150 from the reservation; no transfer record).
	h.replace(1, model.OrderReplace{ClientOrderID: 5, Account: 1, OrderID: 2, Price: 120,
		Quantity: 50})
	expectEqual(t, "ledger transfers", h.l.TransferCount(), transfers)
	_, pending := h.balance(traderQuote(1))
	expectEqual(t, "quote held", pending, uint64(600))
	expectEqual(t, "quote reserved", h.l.Reserved(traderQuote(1)), model.U128(600))
	// 5 × 210 = 1050 > 1000: refused, nothing changes.
	result := h.replace(1, model.OrderReplace{ClientOrderID: 6, Account: 1, OrderID: 2,
		Price: 210, Quantity: 50})[0]
	expectEqual(t, "status", result.Status, model.StatusInsufficientFunds)
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{2, 120, 50}})
	_, pending = h.balance(traderQuote(1))
	expectEqual(t, "quote held", pending, uint64(600))
	// A sell reduced: its hold shrinks to the new quantity.
	h.replace(1, model.OrderReplace{ClientOrderID: 7, Account: 1, OrderID: 1, Price: 250,
		Quantity: 20})
	_, pending = h.balance(traderBase(1))
	expectEqual(t, "base held", pending, uint64(20))
	h.expectIdle(1)
}
