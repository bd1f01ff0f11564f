package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestHoldRefusedByTheLedgerNamesNoRule: a transfer an anomaly rule would hold is then
// refused by the ledger's own later checks (here exceeds_credits: the held amount is
// reserved, and the payer cannot cover it). PROTOCOL.md (EventResult) says the result's
// rule is the deciding risk rule's id for a risk status (300–319), else 0: the hold did
// not happen, the status is the ledger's, so the rule must be 0, not the hold rule's id
// (an independent client reading a non-zero rule beside exceeds_credits would take the
// refusal for the rule's).
func TestHoldRefusedByTheLedgerNamesNoRule(t *testing.T) {
	h := newHarness(t)
	h.createAccounts(sender, model.Account{ID: u(30), Ledger: 1, Code: 1,
		Flags: model.AccountDebitsMustNotExceedCredits})
	h.expect(h.pay(99, 30, 1_000), model.StatusOK, 0)
	h.set(model.RiskRule{ID: 12, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
		Account: u(30), Threshold: 64, Warmup: 2, Shift: 2, Action: model.RiskHold})
	h.expect(h.pay(30, 2, 100), model.StatusOK, 0)
	h.expect(h.pay(30, 2, 100), model.StatusOK, 0)
	// Anomalous (the limit is 124) and within the balance: held, naming the rule.
	h.expect(h.pay(30, 2, 500), model.StatusRiskHeldForReview, 12)
	// Anomalous and above what is left (300): the ledger refuses it; no rule decided.
	h.expect(h.pay(30, 2, 400), model.StatusExceedsCredits, 0)
}
