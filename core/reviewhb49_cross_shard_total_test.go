package core

import (
	"testing"

	"sequent/core/model"
)

// TestReviewhb49LedgerTotalHiddenOnCrossShardTransfers: on a node of two shards (rules
// version 11), a cross-shard transfer refused by a ledger-scope daily_amount rule at
// step 1 (on the debit shard, on behalf of the client: ledger.CreateSagaTransfersTo)
// answers the client, who has no operator scope, 0 as the day's total, as the same
// refusal of a transfer within the shard does: the saga's step 1 is not the system's.
func TestReviewhb49LedgerTotalHiddenOnCrossShardTransfers(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0})
	p.setRules(allShards, model.RiskRule{ID: 1, Kind: model.RiskDailyAmount,
		Scope: model.RiskScopeLedger, Ledger: 1, Amount: model.U128(100)})
	if result, crossed := p.crossFinal(simpleTransfer(10, 1, 100, 60)); result.Status != model.StatusOK || !crossed {
		t.Fatalf("crossing of 60: %s (crossed %v)", result.Status, crossed)
	}
	for _, c := range []struct {
		id, credit uint64
	}{{11, 2}, {12, 101}} {
		result, _ := p.crossFinal(simpleTransfer(c.id, 1, c.credit, 50))
		if result.Status != model.StatusRiskLedgerDailyAmount || result.Rule != 1 ||
			result.Risk.Limit != model.U128(100) || !result.Risk.Current.IsZero() {
			t.Fatalf("transfer %d to %d: %s naming rule %d, detail %+v, want the limit and 0",
				c.id, c.credit, result.Status, result.Rule, result.Risk)
		}
	}
}
