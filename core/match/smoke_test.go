package match

import (
	"testing"

	"sequent/core/model"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 1000, 100_000)
	h.trader(2, 1000, 100_000)
	sell := h.placeOK(1, limitOrder(1, 1, model.SideSell, 100, 50))
	buy := h.placeOK(2, limitOrder(2, 1, model.SideBuy, 105, 80))
	t.Logf("sell %d buy %d", sell, buy)
	for _, r := range h.sink.reports {
		t.Logf("%+v", r)
	}
	t.Logf("bids %v asks %v", h.book(model.SideBuy), h.book(model.SideSell))
	b1, p1 := h.balance(traderBase(1))
	q1, _ := h.balance(traderQuote(1))
	b2, _ := h.balance(traderBase(2))
	q2, p2 := h.balance(traderQuote(2))
	t.Logf("t1 base %d (%d pending) quote %d; t2 base %d quote %d (%d pending)", b1, p1, q1, b2, q2, p2)
}
