package core

import (
	"encoding/binary"

	"sequent/core/model"
)

// The risk rules' requests (package core/risk): set_risk_rules and remove_risk_rules are
// internal (the operators' HTTP API writes them into the log after an audit record), so
// that every replica and every replay holds the same rules from the same op on;
// get_risk_rules is an admin query. Each rule event gets an EventResult.

// setRiskRules puts the rules of the request in force. Each rule is stamped with the
// entry's time.
func (m *Machine) setRiskRules(body []byte, out *Output) model.Status {
	count := len(body) / model.RiskRuleSize
	rules := make([]model.RiskRule, count) // An admin request: allocating is fine.
	statuses := make([]model.Status, count)
	for i := range rules {
		if !rules[i].Decode(body[i*model.RiskRuleSize:]) {
			rules[i].Kind = 0 // Reserved bytes set: invalid whatever the rest.
		}
	}
	timestamp := m.nextTimestamps(1)
	m.ledger.Risk().Set(rules, timestamp, statuses)
	return m.encodeRuleResults(statuses, timestamp, out)
}

// removeRiskRules removes the rules named by the request.
func (m *Machine) removeRiskRules(body []byte, out *Output) model.Status {
	count := len(body) / model.RiskRuleIDSize
	ids := make([]uint32, count)
	statuses := make([]model.Status, count)
	for i := range ids {
		event := body[i*model.RiskRuleIDSize:]
		ids[i] = binary.LittleEndian.Uint32(event)
		if binary.LittleEndian.Uint32(event[4:]) != 0 {
			ids[i] = 0 // Reserved bytes set: no rule has id 0, so it is not found.
		}
	}
	timestamp := m.nextTimestamps(1)
	m.ledger.Risk().Remove(ids, statuses)
	return m.encodeRuleResults(statuses, timestamp, out)
}

func (m *Machine) encodeRuleResults(statuses []model.Status, timestamp uint64,
	out *Output) model.Status {
	encoded := grow(out, len(statuses)*model.EventResultSize)
	for i, status := range statuses {
		result := model.EventResult{Timestamp: timestamp, Status: status}
		result.Encode(encoded[i*model.EventResultSize:])
	}
	return model.StatusOK
}

// getRiskRules lists the rules in force (the caller has the admin permission, checked by
// the network layer).
func (m *Machine) getRiskRules(body []byte, out *Output) model.Status {
	var filter model.RiskRuleFilter
	if !filter.Decode(body) {
		return model.StatusReservedField
	}
	if filter.Limit == 0 || filter.Limit > model.EventsPerRequestMax {
		return model.StatusInvalidFilter
	}
	rules := m.ledger.Risk().Rules(filter.AfterID, int(filter.Limit), nil)
	encoded := grow(out, len(rules)*model.RiskRuleSize)
	for i := range rules {
		rules[i].Encode(encoded[i*model.RiskRuleSize:])
	}
	return model.StatusOK
}
