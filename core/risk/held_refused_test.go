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
// refusal for the rule's). That is the ledger with SetRuleOnlyWhenHeld (package core,
// rules version 8 on); without it (a log written before) the refusal still names the
// rule, as it was answered then (core's TestHoldRefusedRulesVersion goes through Apply).
func TestHoldRefusedByTheLedgerNamesNoRule(t *testing.T) {
	for _, only := range []bool{true, false} {
		h := newHarness(t)
		h.ledger.SetRuleOnlyWhenHeld(only)
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
		refused := uint32(0)
		if !only {
			refused = 12 // As the builds before rules version 8 answered.
		}
		h.expect(h.pay(30, 2, 400), model.StatusExceedsCredits, refused)
		// The same anomalous amount within what is left is held again, naming the rule.
		h.expect(h.pay(30, 2, 300), model.StatusRiskHeldForReview, 12)
	}
}
