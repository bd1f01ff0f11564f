package model

// Risk statuses (300..349): the sequencer's inline risk rules (package core/risk). A
// refusal says which kind of rule refused a transfer; the event result's detail field
// names the rule, and a result with balances carries a RiskDetail record in place of the
// balances (PROTOCOL.md sections 10 and 12). Every refusal is transient (Transient): the
// refused id answers id_already_failed from then on, since a window that moves on or a
// rule that is removed would otherwise change a reported outcome.
const (
	StatusRiskDebitAccountBlocked   Status = 300 // A blocked rule covers the debit account.
	StatusRiskCreditAccountBlocked  Status = 301 // A blocked rule covers the credit account.
	StatusRiskClientBlocked         Status = 302 // A blocked rule covers the sending client.
	StatusRiskCounterpartyBlocked   Status = 303 // The other account is a blocked counterparty.
	StatusRiskAmountAboveMaximum    Status = 304 // The amount exceeds a max_amount rule.
	StatusRiskNewCounterparty       Status = 305 // Above the small amount to a payee account created within the cooling-off period.
	StatusRiskAccountVelocityAmount Status = 306 // The debit account's window amount would exceed its limit.
	StatusRiskAccountVelocityCount  Status = 307 // The debit account's window count would exceed its limit.
	StatusRiskClientVelocityAmount  Status = 308 // The client's window amount would exceed its limit.
	StatusRiskClientVelocityCount   Status = 309 // The client's window count would exceed its limit.
	StatusRiskLedgerDailyAmount     Status = 310 // The ledger's amount of the (UTC) day would exceed its limit.
	StatusRiskClientDailyAmount     Status = 311 // The client's amount of the day on the ledger would exceed its limit.
	StatusRiskAnomaly               Status = 312 // The amount is far above the account's usual amounts.
	// StatusRiskHeldForReview is not a refusal: the transfer was created, as a pending
	// transfer flagged held_for_review, because an anomaly rule with the hold action
	// scored it. Only an operator may post it; its payer or payee may void it.
	StatusRiskHeldForReview Status = 313
	// StatusRiskReviewRequired refuses the post of a held transfer by a client without
	// the operator scope.
	StatusRiskReviewRequired Status = 314

	// Rule administration (per event of the internal set_risk_rules and
	// remove_risk_rules requests).
	StatusRiskRuleIDMustNotBeZero Status = 320
	StatusRiskRuleInvalid         Status = 321 // A field does not fit the rule's kind and scope.
	StatusRiskRuleConflict        Status = 322 // Another rule id has the same target and kind.
	StatusRiskRulesLimitReached   Status = 323
	StatusRiskRuleNotFound        Status = 324
	StatusRiskRuleAccountNotFound Status = 325 // An account-scope rule names a missing account.

	riskStatusStart Status = 300
	riskStatusEnd   Status = 326
)

var riskStatusNames = [riskStatusEnd - riskStatusStart]string{
	StatusRiskDebitAccountBlocked - riskStatusStart:   "risk_debit_account_blocked",
	StatusRiskCreditAccountBlocked - riskStatusStart:  "risk_credit_account_blocked",
	StatusRiskClientBlocked - riskStatusStart:         "risk_client_blocked",
	StatusRiskCounterpartyBlocked - riskStatusStart:   "risk_counterparty_blocked",
	StatusRiskAmountAboveMaximum - riskStatusStart:    "risk_amount_above_maximum",
	StatusRiskNewCounterparty - riskStatusStart:       "risk_new_counterparty_cooling_off",
	StatusRiskAccountVelocityAmount - riskStatusStart: "risk_account_velocity_amount",
	StatusRiskAccountVelocityCount - riskStatusStart:  "risk_account_velocity_count",
	StatusRiskClientVelocityAmount - riskStatusStart:  "risk_client_velocity_amount",
	StatusRiskClientVelocityCount - riskStatusStart:   "risk_client_velocity_count",
	StatusRiskLedgerDailyAmount - riskStatusStart:     "risk_ledger_daily_amount",
	StatusRiskClientDailyAmount - riskStatusStart:     "risk_client_daily_amount",
	StatusRiskAnomaly - riskStatusStart:               "risk_anomaly",
	StatusRiskHeldForReview - riskStatusStart:         "risk_held_for_review",
	StatusRiskReviewRequired - riskStatusStart:        "risk_review_required",
	StatusRiskRuleIDMustNotBeZero - riskStatusStart:   "risk_rule_id_must_not_be_zero",
	StatusRiskRuleInvalid - riskStatusStart:           "risk_rule_invalid",
	StatusRiskRuleConflict - riskStatusStart:          "risk_rule_conflict",
	StatusRiskRulesLimitReached - riskStatusStart:     "risk_rules_limit_reached",
	StatusRiskRuleNotFound - riskStatusStart:          "risk_rule_not_found",
	StatusRiskRuleAccountNotFound - riskStatusStart:   "risk_rule_account_not_found",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < riskStatusStart || s >= riskStatusEnd || riskStatusNames[s-riskStatusStart] == "" {
			return "", false
		}
		return riskStatusNames[s-riskStatusStart], true
	})
}

// IsRiskRefusal reports whether s is one of the risk refusals of a transfer (300..312,
// 314): the event result then names the rule, and a result with balances carries a
// RiskDetail record.
func (s Status) IsRiskRefusal() bool {
	return s >= StatusRiskDebitAccountBlocked && s <= StatusRiskReviewRequired &&
		s != StatusRiskHeldForReview
}
