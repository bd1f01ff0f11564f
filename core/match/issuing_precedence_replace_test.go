package match

import (
	"testing"

	"sequent/core/model"
)

// TestUnaffordableRaiseIsInsufficientFundsWhateverOthersHold: the replace_orders side of
// TestUnaffordableHoldIsInsufficientFundsWhateverOthersHold. Trader 5 (credits 500, its
// transfer grant withdrawn, the ledger's issuing check on) holds 100 with a buy of 1 lot
// at 100; trader 6, an operator, holds nearly 2^128 quote in the escrow. A replace
// raising trader 5's buy to 8 lots at the top price (about 2^67) cannot be afforded, so
// PROTOCOL.md section 12 answers insufficient_funds, not hold_amount_overflow (which the
// escrow's credits_pending, other clients' holds, would give), from an account with
// debits_must_not_exceed_credits and from one without it; the order keeps its hold of
// 100. A raise it can afford (to 4 lots at 100) is then accepted, to show the escrow
// does not refuse everything.
func TestUnaffordableRaiseIsInsufficientFundsWhateverOthersHold(t *testing.T) {
	for _, limited := range []bool{false, true} {
		h, payer, whale := withdrawnIssuer(t, limited)
		top := ^uint64(0)
		buy := h.placeOK(payer, limitOrder(payer, 1, model.SideBuy, 100, 1))
		h.placeOK(whale, limitOrder(whale, 1, model.SideBuy, top, top-4))
		got := h.replace(payer, model.OrderReplace{ClientOrderID: 2, Account: 1,
			OrderID: buy, Price: top, Quantity: 8})[0]
		if _, held := h.balance(traderQuote(payer)); got.Status !=
			model.StatusInsufficientFunds || held != 100 {
			t.Errorf("limited %v: the payer's unaffordable raise beside another client's "+
				"hold: %s, holding %d; want insufficient_funds (documented before "+
				"hold_amount_overflow), holding 100", limited, got.Status, held)
		}
		got = h.replace(payer, model.OrderReplace{ClientOrderID: 3, Account: 1,
			OrderID: buy, Price: 100, Quantity: 4})[0]
		if _, held := h.balance(traderQuote(payer)); got.Status != model.StatusOK ||
			held != 400 {
			t.Errorf("limited %v: the payer's affordable raise: %s, holding %d; want ok, "+
				"holding 400", limited, got.Status, held)
		}
	}
}
