package model

// Risk rule operations (50..59; package core/risk). Setting and removing rules are
// internal requests: the operators' HTTP API writes them into the log (after an audit
// record), so every replica and every replay applies the same rules at the same op.
// Reading them is a query that needs the admin permission.
const (
	// OperationSetRiskRules adds rules or replaces rules with the same id. Events:
	// RiskRule (the timestamp is set by the server). Results: EventResult per rule.
	OperationSetRiskRules Operation = 50
	// OperationRemoveRiskRules removes rules. Events: rule id u32 + reserved u32.
	// Results: EventResult per id.
	OperationRemoveRiskRules Operation = 51
	// OperationGetRiskRules lists rules in id order. Event: one RiskRuleFilter. Results:
	// RiskRule records.
	OperationGetRiskRules Operation = 52
	// RiskRuleIDSize is the event of remove_risk_rules: the id u32 and 4 reserved bytes.
	RiskRuleIDSize = 8
)

func init() {
	registerOperation(OperationSetRiskRules, OperationInfo{Name: "set_risk_rules",
		EventSize: RiskRuleSize, ResultSize: EventResultSize, Write: true, Internal: true,
		EventsMax: RiskRulesPerRequestMax, ResultsMax: RiskRulesPerRequestMax})
	registerOperation(OperationRemoveRiskRules, OperationInfo{Name: "remove_risk_rules",
		EventSize: RiskRuleIDSize, ResultSize: EventResultSize, Write: true, Internal: true,
		EventsMax: RiskRulesPerRequestMax, ResultsMax: RiskRulesPerRequestMax})
	registerOperation(OperationGetRiskRules, OperationInfo{Name: "get_risk_rules",
		EventSize: RiskRuleFilterSize, ResultSize: RiskRuleSize, Query: true, EventsMax: 1,
		ResultsMax: EventsPerRequestMax})
}
