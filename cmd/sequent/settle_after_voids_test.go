package main

import (
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// TestSettlementsAfterVoidsBookTheirDirection: the settlements the shard check looks at
// for ledgers waiting on a void run the way PlanSettlements books them — payable: partner
// → the settlement account, receivable: the settlement account → partner — so a refusal
// for spanning shards names the accounts in the order the booking would have used (it
// named every one partner → via).
func TestSettlementsAfterVoidsBookTheirDirection(t *testing.T) {
	report := &clearing.NettingReport{Positions: []clearing.Position{
		{Ledger: 1, Accounts: []string{"50"}, Direction: clearing.DirectionPayable},
		{Ledger: 2, Accounts: []string{"60"}, Direction: clearing.DirectionReceivable},
		{Ledger: 3, Accounts: []string{"70"}, Direction: clearing.DirectionPayable},
	}}
	via := map[uint32]model.Uint128{1: model.U128(90), 2: model.U128(91), 3: model.U128(92)}
	voids := []model.Transfer{{Ledger: 1}, {Ledger: 2}} // Ledger 3 waits on none.
	got := settlementsAfterVoids(report, via, voids)
	want := []model.Transfer{
		{DebitAccountID: model.U128(50), CreditAccountID: model.U128(90), Ledger: 1},
		{DebitAccountID: model.U128(91), CreditAccountID: model.U128(60), Ledger: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("settlements %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].DebitAccountID != want[i].DebitAccountID ||
			got[i].CreditAccountID != want[i].CreditAccountID || got[i].Ledger != want[i].Ledger {
			t.Errorf("settlement %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
