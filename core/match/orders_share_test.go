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
