package match

import (
	"testing"

	"sequent/core/model"
)

// TestHoldGrowthNeedsTheIssuingRight: trader 5's quote account has no
// debits_must_not_exceed_credits (created under a transfer grant) and credits of 500;
// while it had the grant it placed a buy holding 900 (9 lots at 100). The grant is then
// withdrawn, with the ledger's issuing check on (package core, rules version 6). Its
// replaces are judged by what they add: growing the hold to 1,000 is refused
// insufficient_funds and leaves the hold as it was; shrinking it to 800, still above the
// credits, only gives funds back and is accepted; growing it again to 900 is refused.
// Walked with the order's hold a reservation and a legacy hold (a pending transfer
// restored from version 2, whose replace voids it and reserves the whole new amount: the
// shrink's reservation anew is not the client's growth).
func TestHoldGrowthNeedsTheIssuingRight(t *testing.T) {
	const trader = 5
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, Config{}, testInstrumentRecord())
		grant := model.Grant{Client: trader, Scopes: model.ScopeTransfer,
			Ledger: testQuoteLedger, First: traderQuote(trader), Last: traderQuote(trader)}
		if err := h.l.SetGrants([]model.Grant{grant}); err != nil {
			t.Fatal(err)
		}
		accounts := []model.Account{
			{ID: traderBase(trader), Ledger: testBaseLedger, Code: 3,
				Flags: model.AccountDebitsMustNotExceedCredits},
			{ID: traderQuote(trader), Ledger: testQuoteLedger, Code: 3}}
		results := make([]model.EventResult, len(accounts))
		h.l.CreateAccountsAs(trader, h.clock+1, accounts, results)
		h.clock += uint64(len(accounts))
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("account %d: %s", i, results[i].Status)
			}
		}
		h.deposit(trader, 0, 500)
		h.l.SetIssuingChecked(true)
		buy := h.placeOK(trader, limitOrder(trader, 1, model.SideBuy, 100, 90))
		if legacy {
			h.toLegacy()
		}
		if err := h.l.SetGrants(nil); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name     string
			quantity uint64
			want     model.Status
			held     uint64
		}{
			{"grown to 1,000", 100, model.StatusInsufficientFunds, 900},
			{"shrunk to 800", 80, model.StatusOK, 800},
			{"grown again to 900", 90, model.StatusInsufficientFunds, 800},
		}
		for i, step := range steps {
			got := h.replace(trader, model.OrderReplace{ClientOrderID: uint64(2 + i),
				Account: 1, OrderID: buy, Price: 100, Quantity: step.quantity})[0]
			if _, held := h.balance(traderQuote(trader)); got.Status != step.want ||
				held != step.held {
				t.Errorf("legacy %v: %s: %s, holding %d; want %s, holding %d", legacy,
					step.name, got.Status, held, step.want, step.held)
			}
		}
	}
}
