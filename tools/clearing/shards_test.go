package clearing

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// shardBooks answers a ShardedReader's reads from one ledger per shard (the fake of the
// node's per-shard read path), recording which shards were asked.
type shardBooks struct {
	books []*book
	asked []int
}

func (s *shardBooks) query(_ context.Context, shard int, operation model.Operation,
	body []byte) (model.Status, []byte, error) {
	s.asked = append(s.asked, shard)
	reader := MemoryReader{Ledger: s.books[shard].ledger}
	switch operation {
	case model.OperationGetAccountTransfers:
		var filter model.AccountFilter
		filter.Decode(body)
		found, err := reader.GetAccountTransfers(context.Background(), filter)
		var status *StatusError
		if errors.As(err, &status) {
			return status.Status, nil, nil
		}
		out := make([]byte, len(found)*model.TransferSize)
		for i := range found {
			found[i].Encode(out[i*model.TransferSize:])
		}
		return model.StatusOK, out, nil
	case model.OperationGetLedgerTotals:
		var filter model.LedgerFilter
		filter.Decode(body)
		found, _ := reader.LedgerTotals(context.Background(), filter)
		out := make([]byte, len(found)*model.LedgerTotalsSize)
		for i := range found {
			found[i].Encode(out[i*model.LedgerTotalsSize:])
		}
		return model.StatusOK, out, nil
	}
	return 0, nil, errors.New("the fake answers account transfers and ledger totals only")
}

// TestShardedReaderFindsEachAccountsShard: with ledger placement (an account filter does
// not say where the account is) every shard is asked and the one holding the account
// answers, so partners on two shards net together; with id placement only the account's
// shard is asked; an id held by two shards (as the node's settlement accounts are) is
// refused; ledger totals are summed over the shards.
func TestShardedReaderFindsEachAccountsShard(t *testing.T) {
	account := func(id uint64, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 1}
	}
	shard0 := newBook(t, account(1, 1), account(50, 1), account(99, 1))
	shard1 := newBook(t, account(2, 3), account(70, 3), account(99, 3))
	shard0.at(10*second, move(11, 1, 50, 10, 1), move(12, 99, 1, 5, 1))
	shard1.at(20*second, move(21, 2, 70, 30, 3), move(22, 99, 2, 7, 3))
	books := &shardBooks{books: []*book{shard0, shard1}}
	byLedger, err := shardmap.Spec{Shards: 2, Placement: "ledger", Ledgers: "3:1"}.Build()
	if err != nil {
		t.Fatal(err)
	}
	reader := ShardedReader(byLedger, books.query)
	ledgers, _ := NewLedgers(nil)
	report, err := Net(context.Background(), reader, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(50), model.U128(70)},
		Window:   Window{Until: 30 * second}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Positions) != 2 || report.Positions[0].Net != "10" ||
		report.Positions[1].Net != "30" {
		t.Fatalf("positions %+v, want ledger 1 net 10 and ledger 3 net 30", report.Positions)
	}
	_, err = Net(context.Background(), reader, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(99)}, Window: Window{Until: 30 * second}})
	if !errors.Is(err, ErrNettingQuery) {
		t.Errorf("an account on both shards: %v, want ErrNettingQuery", err)
	}
	totals, err := AllLedgerTotals(context.Background(), reader)
	if err != nil || len(totals) != 2 || totals[0].Ledger != 1 || totals[1].Ledger != 3 ||
		totals[0].Accounts != 3 || totals[1].CreditsPosted != (model.WideSum{Low: model.U128(37)}) {
		t.Errorf("ledger totals %+v (%v), want ledgers 1 and 3 of each shard", totals, err)
	}

	byRange, err := shardmap.Spec{Shards: 2, Placement: "range", Ranges: "0,60"}.Build()
	if err != nil {
		t.Fatal(err)
	}
	books.asked = nil
	report, err = Net(context.Background(), ShardedReader(byRange, books.query), ledgers,
		NettingQuery{Partners: []model.Uint128{model.U128(70)},
			Window: Window{Until: 30 * second}})
	if err != nil || len(report.Positions) != 1 || report.Positions[0].Net != "30" {
		t.Fatalf("range placement: %+v (%v)", report, err)
	}
	for _, shard := range books.asked {
		if shard != 1 {
			t.Errorf("range placement asked shards %v for account 70, want 1 only", books.asked)
			break
		}
	}
}
