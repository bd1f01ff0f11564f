package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/risk"
)

// fakeRiskShard applies risk changes to a risk engine of its own, as a shard's machine
// does (set_risk_rules, remove_risk_rules), holding the accounts it is given.
type fakeRiskShard struct {
	engine   *risk.Engine
	accounts map[model.Uint128]uint32
	clock    uint64
}

func newFakeRiskShard(accounts ...uint64) *fakeRiskShard {
	f := &fakeRiskShard{accounts: map[model.Uint128]uint32{}}
	for i, id := range accounts {
		f.accounts[model.U128(id)] = uint32(i)
	}
	f.engine = risk.New(func(id model.Uint128) (uint32, uint32, bool) {
		index, ok := f.accounts[id]
		return index, 1, ok
	})
	return f
}

func (f *fakeRiskShard) WriteInternal(operation model.Operation, body []byte,
	_ time.Duration) ([]byte, error) {
	f.clock++
	var statuses []model.Status
	switch operation {
	case model.OperationSetRiskRules:
		rules := make([]model.RiskRule, len(body)/model.RiskRuleSize)
		for i := range rules {
			if !rules[i].Decode(body[i*model.RiskRuleSize:]) {
				return nil, errors.New("malformed rule")
			}
		}
		statuses = make([]model.Status, len(rules))
		f.engine.Set(rules, f.clock, statuses)
	case model.OperationRemoveRiskRules:
		ids := make([]uint32, len(body)/model.RiskRuleIDSize)
		for i := range ids {
			ids[i] = binary.LittleEndian.Uint32(body[i*model.RiskRuleIDSize:])
		}
		statuses = make([]model.Status, len(ids))
		f.engine.Remove(ids, statuses)
	default:
		return nil, fmt.Errorf("fake shard: %s", operation)
	}
	reply := make([]byte, len(statuses)*model.EventResultSize)
	for i, status := range statuses {
		result := model.EventResult{Status: status}
		result.Encode(reply[i*model.EventResultSize:])
	}
	return reply, nil
}

func (f *fakeRiskShard) rules() []model.RiskRule {
	return f.engine.Rules(0, model.EventsPerRequestMax, nil)
}

func blockedAccountRule(id uint32, account uint64) model.RiskRule {
	return model.RiskRule{ID: id, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
		Account: model.U128(account)}
}

func encodeRiskRules(rules []model.RiskRule) []byte {
	body := make([]byte, len(rules)*model.RiskRuleSize)
	for i := range rules {
		rules[i].Encode(body[i*model.RiskRuleSize:])
	}
	return body
}

// TestRiskSetSameIDTwiceOnSeveralShards: a set request may name an id twice (nothing
// refuses it); on one shard the later rule replaces the earlier, so the id is in force
// as the last rule says. On two shards, with the two rules' accounts on different
// shards, each shard's copy of the id must not be removed as "stale" on behalf of the
// rule that the request itself replaced: the reply says ok for both, so the id must be
// in force, as on one shard (account 9's rule, on shard 1), and the listing must agree.
func TestRiskSetSameIDTwiceOnSeveralShards(t *testing.T) {
	rules := []model.RiskRule{blockedAccountRule(7, 5), blockedAccountRule(7, 9)}

	one := newFakeRiskShard(5, 9)
	oneShard, err := setRiskRulesSharded([]*fakeRiskShard{one}, rules, encodeRiskRules(rules))
	if err != nil || oneShard[0].Status != model.StatusOK || oneShard[1].Status != model.StatusOK {
		t.Fatalf("one shard: %v %+v", err, oneShard)
	}
	if got := one.rules(); len(got) != 1 || got[0].Account != model.U128(9) {
		t.Fatalf("one shard: rules in force %+v, want rule 7 for account 9", got)
	}

	shards := []*fakeRiskShard{newFakeRiskShard(5), newFakeRiskShard(9)}
	outcomes, err := setRiskRulesSharded(shards, rules, encodeRiskRules(rules))
	if err != nil || outcomes[0].Status != model.StatusOK || outcomes[1].Status != model.StatusOK {
		t.Fatalf("two shards: %v %+v", err, outcomes)
	}
	listed, err := mergeRiskRules([][]model.RiskRule{shards[0].rules(), shards[1].rules()})
	if err != nil || len(listed) != 1 || listed[0].Account != model.U128(9) {
		t.Fatalf("two shards, both rules answered ok: listing %+v (%v), want rule 7 for "+
			"account 9 in force as on one shard", listed, err)
	}

	// An account rule, then a ledger rule, of one id: on one shard the ledger rule is in
	// force; on two it must be on both (the shard without the account must keep it).
	ledgerRule := model.RiskRule{ID: 7, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: model.U128(10)}
	rules = []model.RiskRule{blockedAccountRule(7, 5), ledgerRule}
	shards = []*fakeRiskShard{newFakeRiskShard(5), newFakeRiskShard(9)}
	outcomes, err = setRiskRulesSharded(shards, rules, encodeRiskRules(rules))
	if err != nil || outcomes[0].Status != model.StatusOK || outcomes[1].Status != model.StatusOK {
		t.Fatalf("two shards, account then ledger rule: %v %+v", err, outcomes)
	}
	listed, err = mergeRiskRules([][]model.RiskRule{shards[0].rules(), shards[1].rules()})
	if err != nil || len(listed) != 1 || listed[0].Scope != model.RiskScopeLedger {
		t.Fatalf("two shards, account then ledger rule of one id: listing %+v (%v), want "+
			"the ledger rule on both shards", listed, err)
	}
}

// TestRiskAccountRuleOnTwoShardsHoldingTheAccount: under ledger placement an account id
// can exist on two shards (one account per ledger, each ledger on its own shard; ids
// alone do not say where an account lives, shardmap doc). An account rule for that id is
// then taken by both shards, and the set answers ok; the listing must then show the rule
// (it is in force, the same on both), not fail with "the shards' risk rules do not
// agree" that no set or remove can ever mend.
func TestRiskAccountRuleOnTwoShardsHoldingTheAccount(t *testing.T) {
	rules := []model.RiskRule{blockedAccountRule(3, 5)}
	shards := []*fakeRiskShard{newFakeRiskShard(5), newFakeRiskShard(5)}
	outcomes, err := setRiskRulesSharded(shards, rules, encodeRiskRules(rules))
	if err != nil || outcomes[0].Status != model.StatusOK {
		t.Fatalf("set: %v %+v", err, outcomes)
	}
	listed, err := mergeRiskRules([][]model.RiskRule{shards[0].rules(), shards[1].rules()})
	if err != nil || len(listed) != 1 || listed[0].ID != 3 {
		t.Fatalf("set answered ok, but the listing: %+v (%v)", listed, err)
	}
}
