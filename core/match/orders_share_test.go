package match

import (
	"testing"

	"sequent/core/model"
)

// TestOneClientCannotTakeEveryRestingPlace: the open orders of a shard are bounded
// (Config.OrdersMax) and shared by every client, and an order that could rest is refused
// orders_limit_reached once the table is full. One client with the trade permission and
// the funds for many small orders (here a lot at the lowest tick: 5 quote units each)
// rests OrdersMax of them, and from then on every other client's resting place is
// refused, for as long as the first keeps them. Method: trader 1 places OrdersMax small
// good-till-cancel buys; trader 2's first resting place must still be accepted.
func TestOneClientCannotTakeEveryRestingPlace(t *testing.T) {
	const ordersMax = 64
	h := newHarness(t, Config{OrdersMax: ordersMax}, testInstrumentRecord())
	h.trader(1, 0, 10_000)
	h.trader(2, 0, 10_000)
	orders := make([]model.Order, ordersMax)
	for i := range orders {
		orders[i] = limitOrder(1, uint64(i+1), model.SideBuy, 5, 10)
	}
	taken := 0
	for _, result := range h.place(1, orders...) {
		if result.Status == model.StatusOK {
			taken++
		}
	}
	t.Logf("trader 1 rests %d orders of %d", taken, ordersMax)
	if status := h.place(2, limitOrder(2, 1, model.SideBuy, 5, 10))[0].Status; status !=
		model.StatusOK {
		t.Fatalf("after trader 1 rested %d small orders, trader 2's first resting place "+
			"answered %s: one client took the shard's whole orders table", taken, status)
	}
}

// TestOrdersShareBoundsEachClientAlone: with a share of 4 (a table of 64), a client's
// fifth resting place is refused orders_limit_reached while its immediate-or-cancel
// place is still taken and another client still rests; a cancel gives the client its
// place back; an operator is bound only by the table; a restored engine (counts rebuilt
// from the open orders) answers the same; and an owner applying a log written before the
// share (SetOrdersShareChecked(false)) lets the client rest up to the table.
func TestOrdersShareBoundsEachClientAlone(t *testing.T) {
	const ordersMax, share, operator = 64, 64 / OrdersPerClientDivisor, 3
	h := newHarness(t, Config{OrdersMax: ordersMax}, testInstrumentRecord())
	for n := uint64(1); n <= operator; n++ {
		h.trader(n, 0, 10_000)
	}
	if err := h.l.SetGrants([]model.Grant{{Client: operator,
		Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	key := uint64(0)
	rest := func(client uint64) model.Status {
		key++
		return h.place(client, limitOrder(client, key, model.SideBuy, 5, 10))[0].Status
	}
	var first uint64
	for i := range share {
		key++
		id := h.placeOK(1, limitOrder(1, key, model.SideBuy, 5, 10))
		if i == 0 {
			first = id
		}
	}
	expectEqual(t, "client 1 beyond its share", rest(1), model.StatusOrdersLimitReached)
	key++
	ioc := limitOrder(1, key, model.SideBuy, 5, 10)
	ioc.TimeInForce = model.ImmediateOrCancel
	expectEqual(t, "client 1's IOC at its share", h.place(1, ioc)[0].Status, model.StatusOK)
	expectEqual(t, "client 2 beside it", rest(2), model.StatusOK)
	for range share + 1 {
		expectEqual(t, "the operator beyond a share", rest(operator), model.StatusOK)
	}
	h.restoreRoundTrip()
	expectEqual(t, "client 1 restored", rest(1), model.StatusOrdersLimitReached)
	expectEqual(t, "client 1's count", h.e.OpenOrderCountOf(1), uint32(share))
	key++
	canceled := h.cancel(1, model.OrderCancel{ClientOrderID: key, Account: 1, OrderID: first})
	expectEqual(t, "cancel", canceled[0].Status, model.StatusOK)
	expectEqual(t, "client 1 after a cancel", rest(1), model.StatusOK)
	h.e.SetOrdersShareChecked(false)
	expectEqual(t, "client 1 before the share's rules", rest(1), model.StatusOK)
	expectEqual(t, "client 1's count", h.e.OpenOrderCountOf(1), uint32(share+1))
}
