package clearing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestReview53aEndpointSharedClientIDIsNotCalledASettlementAccount: hunt53a made
// RefuseSharedIDs (the command) name a node's settlement account given as partner rather
// than "on ledgers 1 and 1". The operators' endpoint (ShardedReader) has the mirror bug:
// Net refuses a settlement account before reading, so an account answered by two shards
// there is a client's id on two ledgers (accounts placed by ledger, README "Risk rules on
// a node of several shards"), yet the refusal called it "a settlement account of
// cross-shard transfers": neither true nor what the command says of the same id.
func TestReview53aEndpointSharedClientIDIsNotCalledASettlementAccount(t *testing.T) {
	account := func(id uint64, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 1}
	}
	shard0 := newBook(t, account(1, 1), account(50, 1))
	shard1 := newBook(t, account(2, 3), account(50, 3))
	shard0.at(10*second, move(11, 1, 50, 10, 1))
	shard1.at(20*second, move(21, 2, 50, 30, 3))
	byLedger, err := shardmap.Spec{Shards: 2, Placement: "ledger", Ledgers: "3:1"}.Build()
	if err != nil {
		t.Fatal(err)
	}
	reader := ShardedReader(byLedger, (&shardBooks{books: []*book{shard0, shard1}}).query)
	ledgers, _ := NewLedgers(nil)
	_, err = Net(context.Background(), reader, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(50)}, Window: Window{Until: 30 * second}})
	if !errors.Is(err, ErrNettingQuery) || !strings.Contains(err.Error(),
		"account 50 is on shards 0 and 1") || strings.Contains(err.Error(), "settlement account") {
		t.Fatalf("a client's id on two ledgers of two shards: %v", err)
	}
}
