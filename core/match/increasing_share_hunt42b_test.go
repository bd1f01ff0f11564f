package match

import (
	"testing"

	"sequent/core/model"
)

// TestOneClientCannotTakeEveryIncreasingOptIn: the table of trading accounts that opted
// into increasing client order ids is shared by every client, bounded
// (IncreasingAccountsMax) and never shrinks (an opt-in is kept for good). Trading
// accounts are numbers a client chooses, and an opt-in takes one accepted place, which
// may be an immediate-or-cancel order that rests nothing and holds funds only for the
// instant it is matched. So one client with the trade permission and the funds for one
// small order opts in IncreasingAccountsMax trading accounts of its own, in three
// requests of up to 8,189 places, and from then on no other client can ever opt in
// (accounts_limit_reached), on this shard, for the life of its log. Method: trader 1
// opts in IncreasingAccountsMax accounts with IOC buys against an empty book; trader 2's
// first opting place must still be accepted.
func TestOneClientCannotTakeEveryIncreasingOptIn(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 0, 1_000)
	h.trader(2, 0, 1_000)
	const batch = 4096
	orders := make([]model.Order, batch)
	results := make([]model.OrderResult, batch)
	taken := 0
	for account := uint64(1); account <= IncreasingAccountsMax; account += batch {
		for i := range orders {
			orders[i] = limitOrder(1, 1, model.SideBuy, 5, 10)
			orders[i].Account = account + uint64(i)
			orders[i].TimeInForce = model.ImmediateOrCancel
			orders[i].Flags = model.OrderFlagClientOrderIDsIncreasing
		}
		h.e.PlaceOrders(&h.clock, 1, orders, results, &h.sink)
		for i := range results {
			if results[i].Status == model.StatusOK {
				taken++
			}
		}
	}
	if _, held := h.balance(traderQuote(1)); held != 0 {
		t.Fatalf("trader 1's IOC orders still hold %d", held)
	}
	t.Logf("trader 1 opted in %d trading accounts", taken)
	other := limitOrder(2, 1, model.SideBuy, 5, 10)
	other.Flags = model.OrderFlagClientOrderIDsIncreasing
	if status := h.place(2, other)[0].Status; status != model.StatusOK {
		t.Fatalf("after trader 1 opted in %d trading accounts of its own, trader 2's first "+
			"opt-in answered %s: one client took the shard's whole table for good",
			taken, status)
	}
}
