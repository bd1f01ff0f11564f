package match

import (
	"testing"

	"sequent/core/model"
)

// TestClosedPayingAccountRaiseByHoldKind (reviewp42, a guard: it passes on main): from
// rules version 6 (the ledger's issuing check on) a replace that raises the hold of an
// order whose paying account was closed answers as PROTOCOL.md section 12 lists the
// hold's refusals, insufficient_funds before account_closed, whether the order is held
// by a reservation or by a legacy pending transfer (voided and reserved anew in one
// linked chain, the ledger's batch path): a raise beyond the account's credits is
// insufficient_funds, one within them account_closed, and neither changes the order or
// what it holds. Without the check (rules before 6) both are account_closed.
func TestClosedPayingAccountRaiseByHoldKind(t *testing.T) {
	cases := []struct {
		name    string
		legacy  bool
		checked bool
		// Was 30 at price 100 (a buy holds price × quantity / lot size 10: 300); the
		// trader has 5,000 quote.
		quantity uint64
		want     model.Status
	}{
		{"reserved, affordable", false, true, 60, model.StatusAccountClosed},
		{"reserved, unaffordable", false, true, 1_000, model.StatusInsufficientFunds},
		{"legacy, affordable", true, true, 60, model.StatusAccountClosed},
		{"legacy, unaffordable", true, true, 1_000, model.StatusInsufficientFunds},
		{"reserved, unaffordable, before 6", false, false, 1_000, model.StatusAccountClosed},
		{"legacy, unaffordable, before 6", true, false, 1_000, model.StatusAccountClosed},
	}
	for _, c := range cases {
		h := newHarness(t, Config{}, testInstrumentRecord())
		h.trader(1, 1000, 5_000)
		orderID := h.placeOK(1, limitOrder(1, 1, model.SideBuy, 100, 30))
		_, heldFull := h.balance(traderQuote(1))
		if c.legacy {
			h.versionTwoRoundTrip()
		}
		h.l.SetIssuingChecked(c.checked)
		h.closeAccount(traderQuote(1), testQuoteLedger, bankQuoteID)
		result := h.replace(1, model.OrderReplace{ClientOrderID: 2, Account: 1, OrderID: orderID,
			Price: 100, Quantity: c.quantity})[0]
		expectEqual(t, c.name+": status", result.Status, c.want)
		h.check()
		expectEqual(t, c.name+": bids", h.book(model.SideBuy), [][3]uint64{{orderID, 100, 30}})
		if _, pending := h.balance(traderQuote(1)); pending != heldFull || heldFull == 0 {
			t.Fatalf("%s: debits_pending %d, want %d", c.name, pending, heldFull)
		}
		if reserved := h.l.Reserved(traderQuote(1)); c.legacy != reserved.IsZero() {
			t.Fatalf("%s: reserved %s (legacy %v)", c.name, reserved, c.legacy)
		}
	}
}
