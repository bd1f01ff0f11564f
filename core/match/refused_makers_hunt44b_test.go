package match

import (
	"testing"

	"sequent/core/model"
)

// TestManyRefusedMakersDoNotStopMatching: a client rests more orders than matchTaker's
// attempt bound (2×FillsPerStepMax + CancelsPerStepMax + 2) counts, then closes the account
// its sells are paid into. An order that crosses them all must cancel each one
// (canceled_account: the ledger refuses its payout, package doc "Matching") and rest its
// remainder. matchTaker counted its attempts over the whole command instead of per step,
// so the 3,075th refused maker made the engine panic ("matching did not converge"): the
// shard's sequencer dies on a request any trading client can send, and a replay of the
// log dies again on the same entry.
func TestManyRefusedMakersDoNotStopMatching(t *testing.T) {
	x := testInstrumentRecord()
	x.QuantityMax = 10 << 30
	h := newHarness(t, Config{OrdersMax: 8192, OrdersPerClientMax: 4096,
		ClientOrderIDsMax: 16384}, x)
	const makers = 2*FillsPerStepMax + CancelsPerStepMax + 64
	h.trader(1, 10*makers, 0)
	h.trader(2, 0, 110*makers)
	sells := make([]model.Order, 0, makers)
	for i := range makers {
		sells = append(sells, limitOrder(1, uint64(i+1), model.SideSell, 110, 10))
	}
	for i, result := range h.place(1, sells...) {
		if result.Status != model.StatusOK {
			t.Fatalf("sell %d: %s", i, result.Status)
		}
	}
	h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
	h.sink.reset()
	buy := limitOrder(2, 1, model.SideBuy, 110, 10*makers)
	result := h.place(2, buy)[0]
	if result.Status != model.StatusOK {
		t.Fatalf("buy: %s", result.Status)
	}
	canceled := h.canceledAccount(1)
	if canceled != makers || len(h.sink.fills()) != 0 {
		t.Fatalf("canceled_account %d of %d sells, %d fill reports", canceled, makers,
			len(h.sink.fills()))
	}
	expectEqual(t, "asks", h.book(model.SideSell), [][3]uint64(nil))
	expectEqual(t, "bids", h.book(model.SideBuy), [][3]uint64{{result.OrderID, 110, 10 * makers}})
}
