package main

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio/ops"
)

// riskTimeout bounds waiting for a rule change to become durable (and acknowledged by the
// standby in sync mode), and a listing's read.
const riskTimeout = 5 * time.Second

// riskSources gives the operators' server the risk rules of this node's shards: changes
// go into the logs as internal requests (after the server's audit record, which shard
// 0's log holds), listings are reads through each shard's ring.
//
// On a node of several shards each shard judges the transfers whose debit account it
// holds (step 1 of a cross-shard transfer is judged there too; core/ledger/risk.go), so
// ledger- and client-scope rules go to every shard's log, and an account-scope rule is
// offered to every shard: the one holding the account takes it, the others answer
// risk_rule_account_not_found (the engine refuses a rule for an account it does not
// have), which keeps this independent of the placement (a ledger-placed account's shard
// is not known from the rule alone). A shard that did not take an account-scope rule
// then has any rule of that id removed, so that re-setting an id for another account, or
// an id that was a ledger rule, leaves no stale copy behind.
func (r *runningNode) riskSources(sources *ops.Sources) {
	sources.RiskSet = func(rules []model.RiskRule) ([]ops.RiskOutcome, error) {
		body := make([]byte, len(rules)*model.RiskRuleSize)
		for i := range rules {
			rules[i].Encode(body[i*model.RiskRuleSize:])
		}
		shards := r.groups.Shards()
		if len(shards) == 1 {
			statuses, err := writeRiskRequest(shards[0], model.OperationSetRiskRules, body,
				len(rules))
			return oneShardOutcomes(statuses), err
		}
		return setRiskRulesSharded(shards, rules, body)
	}
	sources.RiskRemove = func(ids []uint32) ([]ops.RiskOutcome, error) {
		body := riskRuleIDsBody(ids)
		shards := r.groups.Shards()
		if len(shards) == 1 {
			statuses, err := writeRiskRequest(shards[0], model.OperationRemoveRiskRules, body,
				len(ids))
			return oneShardOutcomes(statuses), err
		}
		return removeRiskRulesSharded(shards, ids, body)
	}
	sources.RiskRules = func() ([]model.RiskRule, error) {
		shards := r.groups.Shards()
		if len(shards) == 1 {
			return riskRulesOf(shards[0])
		}
		return riskRulesSharded(shards)
	}
}

func riskRuleIDsBody(ids []uint32) []byte {
	body := make([]byte, len(ids)*model.RiskRuleIDSize)
	for i, id := range ids {
		binary.LittleEndian.PutUint32(body[i*model.RiskRuleIDSize:], id)
	}
	return body
}

func oneShardOutcomes(statuses []model.Status) []ops.RiskOutcome {
	if statuses == nil {
		return nil
	}
	outcomes := make([]ops.RiskOutcome, len(statuses))
	for i, status := range statuses {
		outcomes[i].Status = status
	}
	return outcomes
}

// setRiskRulesSharded writes the rules into every shard's log, then removes the ids of
// account-scope rules from the shards that did not take them. A shard that fails (a
// timeout, not primary) does not stop the others: the error names it, the outcomes say
// what each shard that answered did, and running the same set again finishes the job
// (setting a rule again replaces it, which restarts its counters on the shards that had
// it already).
func setRiskRulesSharded[S riskWriter](shards []S, rules []model.RiskRule, body []byte,
) ([]ops.RiskOutcome, error) {
	outcomes, failures := writeEveryShard(shards, model.OperationSetRiskRules, body, len(rules))
	for i := range rules {
		outcomes[i].Status = mergeSetStatus(&rules[i], outcomes[i].Shards, len(shards))
	}
	// Account-scope rules a shard refused for want of the account, where another shard
	// took them: any rule of that id on the refusing shard is stale, unless a later rule
	// of the request with the same id was taken there (each shard applies the request in
	// order, so that one replaced the earlier one, as on one shard: removing the id would
	// remove it; TestRiskSetSameIDTwiceOnSeveralShards).
	stale := make([][]uint32, len(shards))
	for i := range rules {
		if rules[i].Scope != model.RiskScopeAccount || outcomes[i].Status != model.StatusOK {
			continue
		}
		for _, answer := range outcomes[i].Shards {
			if answer.Status == model.StatusRiskRuleAccountNotFound &&
				!takenLater(rules, outcomes, i, answer.Shard) {
				stale[answer.Shard] = append(stale[answer.Shard], rules[i].ID)
			}
		}
	}
	for index, ids := range stale {
		if len(ids) == 0 {
			continue
		}
		// Removing an id the shard does not hold answers risk_rule_not_found: expected.
		if _, err := writeRiskRequest(shards[index], model.OperationRemoveRiskRules,
			riskRuleIDsBody(ids), len(ids)); err != nil {
			failures = append(failures, fmt.Sprintf("shard %d: removing the other copies of "+
				"account rules: %v", index, err))
		}
	}
	if len(failures) != 0 {
		return outcomes, fmt.Errorf("risk rules set on some shards only (%s); "+
			"run the same set again to finish", strings.Join(failures, "; "))
	}
	return outcomes, nil
}

// takenLater reports whether a rule after rules[i] in the request, with its id, was
// taken by shard.
func takenLater(rules []model.RiskRule, outcomes []ops.RiskOutcome, i int, shard uint16) bool {
	for j := i + 1; j < len(rules); j++ {
		if rules[j].ID != rules[i].ID {
			continue
		}
		for _, answer := range outcomes[j].Shards {
			if answer.Shard == shard && answer.Status == model.StatusOK {
				return true
			}
		}
	}
	return false
}

// mergeSetStatus is a rule's status on the node from its shards' answers: a ledger- or
// client-scope rule is in force when every shard took it; an account-scope rule when
// the shards holding the account took it and every other one lacks the account.
// Otherwise the first shard's refusal (in shard order) that explains it.
func mergeSetStatus(rule *model.RiskRule, answers []ops.RiskShardStatus, shards int,
) model.Status {
	taken, missing := 0, 0
	refusal := model.StatusOK
	for _, answer := range answers {
		switch {
		case answer.Status == model.StatusOK:
			taken++
		case answer.Status == model.StatusRiskRuleAccountNotFound &&
			rule.Scope == model.RiskScopeAccount:
			missing++
		case refusal == model.StatusOK:
			refusal = answer.Status
		}
	}
	switch {
	case refusal != model.StatusOK:
		return refusal
	case len(answers) < shards:
		return model.StatusOK // Not every shard answered: the error says so.
	case rule.Scope == model.RiskScopeAccount && taken == 0:
		return model.StatusRiskRuleAccountNotFound
	}
	return model.StatusOK
}

// writeEveryShard logs one risk request of count rules or ids in every shard, in shard
// order, and gathers each item's per-shard statuses; a shard that fails is named in
// failures and the others still run.
func writeEveryShard[S riskWriter](shards []S, operation model.Operation, body []byte,
	count int) (outcomes []ops.RiskOutcome, failures []string) {
	outcomes = make([]ops.RiskOutcome, count)
	for index, s := range shards {
		statuses, err := writeRiskRequest(s, operation, body, count)
		if err != nil {
			failures = append(failures, fmt.Sprintf("shard %d: %v", index, err))
			continue
		}
		for i, status := range statuses {
			outcomes[i].Shards = append(outcomes[i].Shards,
				ops.RiskShardStatus{Shard: uint16(index), Status: status})
		}
	}
	return outcomes, failures
}

// removeRiskRulesSharded removes the ids from every shard's log: a rule is removed when
// some shard held it (ledger and client rules are on every shard, an account rule on
// one), risk_rule_not_found when none did.
func removeRiskRulesSharded[S riskWriter](shards []S, ids []uint32, body []byte,
) ([]ops.RiskOutcome, error) {
	outcomes, failures := writeEveryShard(shards, model.OperationRemoveRiskRules, body, len(ids))
	for i := range outcomes {
		outcomes[i].Status = mergeRemoveStatus(outcomes[i].Shards)
	}
	if len(failures) != 0 {
		return outcomes, fmt.Errorf("risk rules removed on some shards only (%s); "+
			"run the same remove again to finish", strings.Join(failures, "; "))
	}
	return outcomes, nil
}

// mergeRemoveStatus is a removal's status on the node from its shards' answers: ok when
// some shard held the id and no shard answered anything but ok or risk_rule_not_found,
// risk_rule_not_found when none held it, else the first other answer.
func mergeRemoveStatus(answers []ops.RiskShardStatus) model.Status {
	merged := model.StatusRiskRuleNotFound
	for _, answer := range answers {
		switch answer.Status {
		case model.StatusOK:
			if merged == model.StatusRiskRuleNotFound {
				merged = model.StatusOK
			}
		case model.StatusRiskRuleNotFound:
		default:
			if merged == model.StatusOK || merged == model.StatusRiskRuleNotFound {
				merged = answer.Status
			}
		}
	}
	return merged
}

// riskWriter is what a risk change needs of a shard: a *shard.Shard, or a fake in tests
// (risk_test.go) that applies the change to a risk engine of its own.
type riskWriter interface {
	WriteInternal(operation model.Operation, body []byte, timeout time.Duration) ([]byte, error)
}

var _ riskWriter = (*shard.Shard)(nil)

// writeRiskRequest logs one internal risk request on a shard and decodes its per-rule
// statuses.
func writeRiskRequest(s riskWriter, operation model.Operation, body []byte, count int,
) ([]model.Status, error) {
	reply, err := s.WriteInternal(operation, body, riskTimeout)
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

// riskRulesSharded lists the rules of every shard as one list in id order, after
// checking that they agree: a ledger- or client-scope rule must be on every shard with
// the same fields (its timestamp, each shard's own clock, aside; the first shard's is
// shown), an account-scope rule on the shards holding its account: nearly always one,
// two or more only when they all hold an account of that id (ledger placement, an id on
// two ledgers placed apart), each copy the same (a shard never holds a rule for an
// account it lacks, and accounts are never removed, so a copy is no stale leftover:
// TestRiskAccountRuleOnTwoShardsHoldingTheAccount). A listing that finds them apart
// (a set or remove that reached some shards only) fails and says which rule, so that
// the operator runs the change again rather than trusting a partial picture.
func riskRulesSharded(shards []*shard.Shard) ([]model.RiskRule, error) {
	perShard := make([][]model.RiskRule, len(shards))
	for index, s := range shards {
		rules, err := riskRulesOf(s)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", index, err)
		}
		perShard[index] = rules
	}
	return mergeRiskRules(perShard)
}

// mergeRiskRules merges the shards' rules (index: shard) into one list in id order, or
// fails when they do not agree (riskRulesSharded).
func mergeRiskRules(perShard [][]model.RiskRule) ([]model.RiskRule, error) {
	type seen struct {
		rule   model.RiskRule
		shards int
	}
	byID := map[uint32]*seen{}
	var order []uint32
	for index, rules := range perShard {
		for _, rule := range rules {
			entry, ok := byID[rule.ID]
			if !ok {
				byID[rule.ID] = &seen{rule: rule, shards: 1}
				order = append(order, rule.ID)
				continue
			}
			first, other := entry.rule, rule
			first.Timestamp, other.Timestamp = 0, 0
			if first != other {
				return nil, fmt.Errorf("%w: rule %d differs on shard %d from the shard listed "+
					"first; set it again", errRiskRulesApart, rule.ID, index)
			}
			entry.shards++
		}
	}
	rules := make([]model.RiskRule, 0, len(order))
	for _, id := range order {
		entry := byID[id]
		want := len(perShard)
		if entry.rule.Scope == model.RiskScopeAccount {
			want = entry.shards // Each shard holding the account; the fields agree (above).
		}
		if entry.shards != want {
			return nil, fmt.Errorf("%w: rule %d is on %d of %d shards, want %d; set or "+
				"remove it again", errRiskRulesApart, id, entry.shards, len(perShard), want)
		}
		rules = append(rules, entry.rule)
	}
	slices.SortFunc(rules, func(a, b model.RiskRule) int { return cmp.Compare(a.ID, b.ID) })
	return rules, nil
}

// errRiskRulesApart: the shards' rules do not agree.
var errRiskRulesApart = errors.New("the shards' risk rules do not agree")

// riskRulesOf reads every rule in force on a shard, a page of model.EventsPerRequestMax
// at a time.
func riskRulesOf(s *shard.Shard) ([]model.RiskRule, error) {
	var rules []model.RiskRule
	filter := model.RiskRuleFilter{Limit: model.EventsPerRequestMax}
	for {
		body := make([]byte, model.RiskRuleFilterSize)
		filter.Encode(body)
		status, reply, err := s.Query(model.OperationGetRiskRules, body, riskTimeout)
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
