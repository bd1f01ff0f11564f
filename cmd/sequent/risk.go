package main

import (
	"encoding/binary"
	"fmt"
	"time"

	"sequent/core/model"
	"sequent/netio/ops"
)

// riskTimeout bounds waiting for a rule change to become durable (and acknowledged by the
// standby in sync mode), and a listing's read.
const riskTimeout = 5 * time.Second

// riskSources gives the operators' server the risk rules of this node's shard: changes
// go into the log as internal requests (after the server's audit record), listings are
// reads through the shard's ring.
func (r *runningNode) riskSources(sources *ops.Sources) {
	sources.RiskSet = func(rules []model.RiskRule) ([]model.Status, error) {
		body := make([]byte, len(rules)*model.RiskRuleSize)
		for i := range rules {
			rules[i].Encode(body[i*model.RiskRuleSize:])
		}
		return r.writeRiskRequest(model.OperationSetRiskRules, body, len(rules))
	}
	sources.RiskRemove = func(ids []uint32) ([]model.Status, error) {
		body := make([]byte, len(ids)*model.RiskRuleIDSize)
		for i, id := range ids {
			binary.LittleEndian.PutUint32(body[i*model.RiskRuleIDSize:], id)
		}
		return r.writeRiskRequest(model.OperationRemoveRiskRules, body, len(ids))
	}
	sources.RiskRules = r.riskRules
}

// writeRiskRequest logs one internal risk request and decodes its per-rule statuses.
func (r *runningNode) writeRiskRequest(operation model.Operation, body []byte, count int,
) ([]model.Status, error) {
	if shards := len(r.groups.Shards()); shards != 1 {
		// Each shard would need the ledger and client rules, and an account's rule only
		// the shard holding the account: not built.
		return nil, fmt.Errorf("%s: risk rules on a node of %d shards are not built", operation,
			shards)
	}
	reply, err := r.groups.Shard().WriteInternal(operation, body, riskTimeout)
	if err != nil {
		return nil, err
	}
	if len(reply) != count*model.EventResultSize {
		return nil, fmt.Errorf("%s: %d reply bytes for %d rules", operation, len(reply), count)
	}
	statuses := make([]model.Status, count)
	for i := range statuses {
		var result model.EventResult
		result.Decode(reply[i*model.EventResultSize:])
		statuses[i] = result.Status
	}
	return statuses, nil
}

// riskRules reads every rule in force, a page of model.EventsPerRequestMax at a time.
func (r *runningNode) riskRules() ([]model.RiskRule, error) {
	var rules []model.RiskRule
	filter := model.RiskRuleFilter{Limit: model.EventsPerRequestMax}
	for {
		body := make([]byte, model.RiskRuleFilterSize)
		filter.Encode(body)
		status, reply, err := r.groups.Shard().Query(model.OperationGetRiskRules, body, riskTimeout)
		if err != nil {
			return nil, err
		}
		if status != model.StatusOK {
			return nil, fmt.Errorf("risk rules: %s", status)
		}
		for offset := 0; offset+model.RiskRuleSize <= len(reply); offset += model.RiskRuleSize {
			var rule model.RiskRule
			rule.Decode(reply[offset:])
			rules = append(rules, rule)
			filter.AfterID = rule.ID
		}
		if len(reply) < int(filter.Limit)*model.RiskRuleSize {
			return rules, nil
		}
	}
}
