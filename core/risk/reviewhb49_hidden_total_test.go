package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestReviewhb49LedgerTotalHiddenKeepsTheClientsOwnCurrent: SetLedgerTotalHidden (rules
// version 11) hides only a ledger-scope daily_amount refusal's total, every client's.
// The other kinds' current is the refused client's own business and stays: the debit
// account's velocity window (a ledger-scope velocity rule counts per debit account),
// the client's own day on the ledger (a client-scope daily_amount rule) and the amount
// of a max_amount rule's transfer. Masking every refusal's current for a non-operator
// (the kind test dropped from checkRisk) passed every earlier test.
func TestReviewhb49LedgerTotalHiddenKeepsTheClientsOwnCurrent(t *testing.T) {
	for _, c := range []struct {
		name   string
		rule   model.RiskRule
		status model.Status
	}{
		{"ledger velocity (the debit account's window)", model.RiskRule{ID: 1,
			Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 3600 * second, Amount: u(1_000)}, model.StatusRiskAccountVelocityAmount},
		{"client velocity", model.RiskRule{ID: 2, Kind: model.RiskVelocity,
			Scope: model.RiskScopeClient, Client: sender, Ledger: 1, WindowNs: 3600 * second,
			Amount: u(1_000)}, model.StatusRiskClientVelocityAmount},
		{"client daily_amount", model.RiskRule{ID: 3, Kind: model.RiskDailyAmount,
			Scope: model.RiskScopeClient, Client: sender, Ledger: 1, Amount: u(1_000)},
			model.StatusRiskClientDailyAmount},
	} {
		h := newHarness(t)
		h.ledger.SetLedgerTotalHidden(true)
		h.set(c.rule)
		h.expect(h.pay(1, 2, 600), model.StatusOK, 0)
		refused := h.pay(1, 2, 600)
		h.expect(refused, c.status, c.rule.ID)
		if refused.Risk.Current != u(600) || refused.Risk.Limit != u(1_000) {
			t.Fatalf("%s: the sender reads %+v, want its own 600 of 1000", c.name, refused.Risk)
		}
	}
}
