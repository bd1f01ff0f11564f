package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/saga"
)

// TestReview53aSettleOfASettlementAccountOnARealRouter: hunt53a's test of RefuseSharedIDs
// uses a fake reader returning two copies of a settlement account. Against a real node of
// two shards, after a cross-shard transfer made the pair's settlement account exist on
// both shards, `sequent settle --partner` with that id is refused as a usage error naming
// the settlement account (not "on ledgers 3 and 3").
func TestReview53aSettleOfASettlementAccountOnARealRouter(t *testing.T) {
	_, c, common := settleNode(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x := model.Transfer{ID: model.U128(5000), DebitAccountID: model.U128(70),
		CreditAccountID: model.U128(1070), Amount: model.U128(500), Ledger: 3, Code: 1}
	if results, err := c.CreateTransfers(ctx, []model.Transfer{x}); err != nil ||
		results[0].Status != model.StatusOK {
		t.Fatalf("cross-shard transfer: %v %+v", err, results)
	}
	settlement := saga.SettlementAccountID(0, 1, 3)
	copies, err := c.LookupAccounts(ctx, []model.Uint128{settlement})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the router finds %d copies of %s", len(copies), settlement)
	output, err := runRoot(t, append([]string{"settle", "--partner", settlement.String(),
		"--until", "now"}, common...)...)
	if err == nil || !strings.Contains(err.Error(), "settlement account of shards 0 → 1 on ledger 3") ||
		strings.Contains(err.Error(), "ledgers 3 and 3") {
		t.Fatalf("settle --partner %s: %v\n%s", settlement, err, output)
	}
}
