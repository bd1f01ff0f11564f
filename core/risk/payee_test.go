package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestPayeeJudgesTheCreditSide: Payee, step 2 of a cross-shard transfer on the credit
// shard, refuses by the payee's own block or its ledger's, by a counterparty block of
// the payee naming the payer, and by the client's counterparty block naming the payee on
// that rule's ledger; nothing else refuses (the payer's own blocks are judged on its
// shard), and without a blocking rule every credit passes.
func TestPayeeJudgesTheCreditSide(t *testing.T) {
	r := newRig(t, 3000)
	r.set(maxAmountRule(1, 1, 1))
	if status := r.e.Payee(7, 1, 1, u(1), u(2)); status != model.StatusOK {
		t.Fatalf("no blocking rule: %s", status)
	}
	r.set(model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(3)},
		model.RiskRule{ID: 3, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeAccount,
			Account: u(4), Counterparty: u(5)},
		model.RiskRule{ID: 4, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeClient,
			Client: 9, Ledger: 1, Counterparty: u(6)},
		model.RiskRule{ID: 5, Kind: model.RiskBlocked, Scope: model.RiskScopeLedger, Ledger: 3},
		model.RiskRule{ID: 6, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(7)})
	cases := []struct {
		client       uint64
		payer, payee uint64
		ledger       uint32 // 0: the payee's.
		want         model.Status
	}{
		{7, 1, 3, 0, model.StatusRiskCreditAccountBlocked},       // The payee's own block.
		{7, 7, 2, 0, model.StatusOK},                             // The payer's block is not judged here.
		{7, 5, 4, 0, model.StatusRiskCounterpartyBlocked},        // The payee blocks the payer.
		{7, 1, 4, 0, model.StatusOK},                             // It blocks another payer only.
		{9, 1, 6, 0, model.StatusRiskCounterpartyBlocked},        // The client's block names the payee.
		{8, 1, 6, 0, model.StatusOK},                             // Another client's.
		{9, 6, 2, 0, model.StatusOK},                             // The client's block names the payer only.
		{9, 1, 6, 2, model.StatusOK},                             // On ledger 2: the client's rule is for 1.
		{7, 2001, 2002, 0, model.StatusRiskCreditAccountBlocked}, // The payee's ledger is blocked.
	}
	for _, c := range cases {
		ledger := c.ledger
		if ledger == 0 {
			ledger = ledgerOf(c.payee)
		}
		status := r.e.Payee(c.client, uint32(c.payee-1), ledger, u(c.payer), u(c.payee))
		if status != c.want {
			t.Errorf("client %d, %d → %d: %s, want %s", c.client, c.payer, c.payee, status, c.want)
		}
	}
}
