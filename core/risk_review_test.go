package core

import (
	"testing"

	"sequent/core/model"
)

// TestCrossShardRefusalByPayeeCountsNowhere: PROTOCOL.md ("Risk rules", "Where they
// sit") promises that counters count only transfers that were created: a refused
// transfer counts nowhere. A cross-shard transfer that the payee's rules refuse (rules
// version 5: risk_credit_account_blocked, nothing moved) must then leave the payer's
// velocity count as a local transfer refused for the same block leaves it; the same two
// transfers on one shard show what the client is promised.
func TestCrossShardRefusalByPayeeCountsNowhere(t *testing.T) {
	velocity := model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: model.U128(1), WindowNs: model.RiskDayNs, Count: 1}
	blocked := func(account uint64) model.RiskRule {
		return model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
			Account: model.U128(account)}
	}

	// One shard (accounts 1, 2, 3 all on shard 0): 1 → 3 (blocked) is refused and not
	// counted, so 1 → 2 is the payer's first transfer of the window.
	local := newPair(t)
	local.accounts(map[uint64]uint16{1: 0, 2: 0, 3: 0})
	local.setRules(shard0, velocity, blocked(3))
	if result, _ := local.crossFinal(simpleTransfer(10, 1, 3, 5)); result.Status != model.StatusRiskCreditAccountBlocked {
		t.Fatalf("local transfer to a blocked payee: %s", result.Status)
	}
	if result, _ := local.crossFinal(simpleTransfer(11, 1, 2, 5)); result.Status != model.StatusOK {
		t.Fatalf("local: the refused transfer was counted: %s", result.Status)
	}

	// Two shards: the payee 100 is blocked on shard 1. The saga voids step 1 and the
	// client gets risk_credit_account_blocked; the next transfer must still be the payer's
	// first of the window.
	cross := newPair(t)
	cross.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0})
	cross.setRules(shard0, velocity)
	cross.setRules(shard1, blocked(100))
	if result, ran := cross.crossFinal(simpleTransfer(10, 1, 100, 5)); !ran ||
		result.Status != model.StatusRiskCreditAccountBlocked {
		t.Fatalf("cross-shard transfer to a blocked payee: %s (saga %t)", result.Status, ran)
	}
	if result, _ := cross.crossFinal(simpleTransfer(11, 1, 2, 5)); result.Status != model.StatusOK {
		t.Fatalf("a cross-shard transfer refused by the payee's block (nothing moved) still "+
			"counts in the payer's velocity window: the next transfer got %s, want ok", result.Status)
	}
}
