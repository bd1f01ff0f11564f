package main

import (
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/netio/ops"
)

func shardAnswersOf(statuses ...model.Status) []ops.RiskShardStatus {
	answers := make([]ops.RiskShardStatus, len(statuses))
	for i, status := range statuses {
		answers[i] = ops.RiskShardStatus{Shard: uint16(i), Status: status}
	}
	return answers
}

// TestRiskStatusOnSeveralShards: how each shard's answers make a rule's status on the
// node (a set and a remove), so that `ok` means the node holds the change as asked.
func TestRiskStatusOnSeveralShards(t *testing.T) {
	ledgerRule := model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: model.U128(5)}
	accountRule := model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
		Account: model.U128(9)}
	ok, missing := model.StatusOK, model.StatusRiskRuleAccountNotFound
	conflict, notFound := model.StatusRiskRuleConflict, model.StatusRiskRuleNotFound
	sets := []struct {
		name    string
		rule    model.RiskRule
		answers []model.Status
		want    model.Status
	}{
		{"ledger rule on both", ledgerRule, []model.Status{ok, ok}, ok},
		{"ledger rule refused by one", ledgerRule, []model.Status{ok, conflict}, conflict},
		{"account rule on its shard", accountRule, []model.Status{missing, ok}, ok},
		{"account rule nowhere", accountRule, []model.Status{missing, missing}, missing},
		{"account rule refused where its account is", accountRule,
			[]model.Status{conflict, missing}, conflict},
		// A ledger rule refused for a missing account cannot happen; were it to, it is
		// not in force everywhere.
		{"ledger rule missing on one", ledgerRule, []model.Status{ok, missing}, missing},
		{"one shard did not answer", ledgerRule, []model.Status{ok}, ok}, // The error says so.
	}
	for _, test := range sets {
		if got := mergeSetStatus(&test.rule, shardAnswersOf(test.answers...), 2); got != test.want {
			t.Errorf("set, %s: %s, want %s", test.name, got, test.want)
		}
	}
	removes := []struct {
		answers []model.Status
		want    model.Status
	}{
		{[]model.Status{ok, ok}, ok},
		{[]model.Status{notFound, ok}, ok},
		{[]model.Status{notFound, notFound}, notFound},
		{[]model.Status{ok, model.StatusRiskRuleIDMustNotBeZero}, model.StatusRiskRuleIDMustNotBeZero},
	}
	for _, test := range removes {
		if got := mergeRemoveStatus(shardAnswersOf(test.answers...)); got != test.want {
			t.Errorf("remove %v: %s, want %s", test.answers, got, test.want)
		}
	}
}

// TestRiskListingOnSeveralShards: the shards' rules are listed once each, in id order,
// when they agree (timestamps, each shard's clock, aside), and the listing fails, naming
// the rule, when a change reached some shards only.
func TestRiskListingOnSeveralShards(t *testing.T) {
	ledgerRule := func(timestamp uint64, amount uint64) model.RiskRule {
		return model.RiskRule{ID: 3, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
			Ledger: 1, Amount: model.U128(amount), Timestamp: timestamp}
	}
	accountRule := model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
		Account: model.U128(9), Timestamp: 7}
	rules, err := mergeRiskRules([][]model.RiskRule{{ledgerRule(10, 5)},
		{accountRule, ledgerRule(11, 5)}})
	if err != nil || len(rules) != 2 || rules[0] != accountRule || rules[1] != ledgerRule(10, 5) {
		t.Fatalf("agreeing shards: %v %+v", err, rules)
	}
	apart := [][][]model.RiskRule{
		{{ledgerRule(10, 5)}, {ledgerRule(11, 6)}},        // Set again on one shard only.
		{{ledgerRule(10, 5)}, nil},                        // Set on one shard only.
		{{ledgerRule(10, 5), accountRule}, {accountRule}}, // The ledger rule on one.
	}
	for _, perShard := range apart {
		if rules, err := mergeRiskRules(perShard); !errors.Is(err, errRiskRulesApart) {
			t.Errorf("shards apart %+v: %v %+v", perShard, err, rules)
		}
	}
}
