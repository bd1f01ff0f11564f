package core

import (
	"testing"

	"sequent/core/model"
)

// TestRiskRulesBindCrossShardTransfers: a transfer whose payee lives on another shard is
// judged by the debit side's and the client's risk rules as a local one is, with the
// same code and explanation, and nothing moves. Before, step 1 of a cross-shard transfer
// ran as the system's (package ledger's riskActive skipped it): a transfer of 1,000
// under a maximum of 900 answered saga_in_flight and was credited in full.
func TestRiskRulesBindCrossShardTransfers(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0})
	for _, h := range p.shards {
		out := h.apply(Request{Operation: model.OperationSetRiskRules, Body: riskRulesBody(
			model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
				Ledger: 1, Amount: model.U128(900)},
			model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
				Client: p.actor, Ledger: 1, WindowNs: model.RiskDayNs, Amount: model.U128(1 << 40),
				Count: 2})})
		for i, status := range eventStatuses(t, out.Body(&out.Replies[0])) {
			if status != model.StatusOK {
				t.Fatalf("rule %d: %s", i+1, status)
			}
		}
	}
	local, _ := p.transfer(simpleTransfer(10, 1, 2, 1000))
	crossing, messages := p.transfer(simpleTransfer(11, 1, 100, 1000))
	if local.Status != model.StatusRiskAmountAboveMaximum || crossing.Status != local.Status ||
		crossing.Rule != 1 || crossing.Risk.Limit != model.U128(900) || len(messages) != 0 {
		t.Fatalf("max amount 900, 1000 moved: local %s, cross-shard %s (rule %d, limit %s, "+
			"%d messages)", local.Status, crossing.Status, crossing.Rule, crossing.Risk.Limit,
			len(messages))
	}
	// Within the maximum it crosses, and counts in the client's velocity window like a
	// local transfer: the third transfer of the window is refused wherever its payee is.
	first, messages := p.transfer(simpleTransfer(12, 1, 100, 900))
	if first.Status != model.StatusSagaInFlight {
		t.Fatalf("900 across shards: %s", first.Status)
	}
	p.settle(messages)
	if second, _ := p.transfer(simpleTransfer(13, 1, 2, 5)); second.Status != model.StatusOK {
		t.Fatalf("second transfer of the window: %s", second.Status)
	}
	third, messages := p.transfer(simpleTransfer(14, 1, 100, 5))
	if third.Status != model.StatusRiskClientVelocityCount || len(messages) != 0 {
		t.Fatalf("third transfer of a window of two, across shards: %s", third.Status)
	}
	if credited := p.account(100).CreditsPosted; credited != model.U128(900) {
		t.Fatalf("account 100 was credited %s, want 900 (the one transfer within the rules)", credited)
	}
}
