package match

import (
	"testing"

	"sequent/core/model"
)

// TestUnaffordableHoldIsInsufficientFundsWhateverOthersHold (reviewi42): netio/PROTOCOL.md
// section 12, "Precedence", lists place_orders' hold refusals as insufficient_funds, then
// account_closed, then hold_amount_overflow ("the first of these lists that applies is
// the answer"), and from rules version 6 insufficient_funds also answers a hold that would
// issue money without the right to. Trader 6 (an operator, who may issue) holds nearly
// 2^128 quote in the instrument's escrow with one buy. Trader 5 then places a buy of 8
// lots at the top price (about 2^67; refused insufficient_funds while the escrow is
// empty) paid from an account whose credits are 500: from an
// account without debits_must_not_exceed_credits whose transfer grant was withdrawn, and
// from one with the flag. Trader 5 cannot afford either, so the documented answer is
// insufficient_funds; the ledger checks the escrow's credits_pending overflow first and
// answers hold_amount_overflow, an answer that depends on other clients' holds (what the
// transfer path's order of checks exists to avoid: section 5, "any transfer, the order of
// checks").
func TestUnaffordableHoldIsInsufficientFundsWhateverOthersHold(t *testing.T) {
	for _, limited := range []bool{false, true} {
		h, payer, whale := withdrawnIssuer(t, limited)
		top := ^uint64(0)
		// Alone, the buy is refused insufficient_funds, as documented.
		got := h.place(payer, limitOrder(payer, 1, model.SideBuy, top, 8))[0]
		if got.Status != model.StatusInsufficientFunds {
			t.Fatalf("limited %v: the payer's buy alone: %s, want insufficient_funds",
				limited, got.Status)
		}
		h.placeOK(whale, limitOrder(whale, 1, model.SideBuy, top, top-4))
		got = h.place(payer, limitOrder(payer, 2, model.SideBuy, top, 8))[0]
		if got.Status != model.StatusInsufficientFunds {
			t.Errorf("limited %v: the payer's unaffordable buy beside another client's hold: "+
				"%s, want insufficient_funds (documented before hold_amount_overflow)",
				limited, got.Status)
		}
	}
}

// withdrawnIssuer builds the set-up of the unaffordable-hold tests: trader 5, the payer,
// with credits 500 on its quote account (with debits_must_not_exceed_credits when
// limited) and its transfer grant over that account withdrawn; trader 6, an operator, who
// may issue; the ledger's issuing check on (rules version 6).
func withdrawnIssuer(t *testing.T, limited bool) (h *harness, payer, whale uint64) {
	t.Helper()
	record := model.Instrument{ID: testInstrument, BaseLedger: testBaseLedger,
		QuoteLedger: testQuoteLedger, TickSize: 1, LotSize: 1, QuantityMin: 1,
		QuantityMax: ^uint64(0)}
	h = newHarness(t, Config{}, record)
	payer, whale = 5, 6
	grants := []model.Grant{{Client: whale, Scopes: model.ScopeOperator},
		{Client: payer, Scopes: model.ScopeTransfer, Ledger: testQuoteLedger,
			First: traderQuote(payer), Last: traderQuote(payer)}}
	if err := h.l.SetGrants(grants); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{payer, whale} {
		quoteFlags := uint16(0)
		if limited && n == payer {
			quoteFlags = model.AccountDebitsMustNotExceedCredits
		}
		accounts := []model.Account{
			{ID: traderBase(n), Ledger: testBaseLedger, Code: 3,
				Flags: model.AccountDebitsMustNotExceedCredits},
			{ID: traderQuote(n), Ledger: testQuoteLedger, Code: 3, Flags: quoteFlags}}
		results := make([]model.EventResult, len(accounts))
		h.l.CreateAccountsAs(n, h.clock+1, accounts, results)
		h.clock += uint64(len(accounts))
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("trader %d account %d: %s", n, i, results[i].Status)
			}
		}
	}
	h.deposit(payer, 0, 500)
	if err := h.l.SetGrants(grants[:1]); err != nil { // The payer's grant withdrawn.
		t.Fatal(err)
	}
	h.l.SetIssuingChecked(true)
	return h, payer, whale
}
