package client

import (
	"context"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestReviewlf48LookupRepeatsEnoughOnTwoShards: doc.go says LookupRepeatsPerRequestMax
// is enough for any ids on two shards. One transfer id both shards use, asked
// model.EventsPerRequestMax times, has 16,378 records: every reply of it is dropped and
// its ids asked again in halves until a quarter's records fit (7 requests, 6 of them
// repeats). TestLookupRepeatsAreBounded's cases needed fewer: the bound could be cut to
// 2 with every test passing.
func TestReviewlf48LookupRepeatsEnoughOnTwoShards(t *testing.T) {
	s := startShardedServerWith(t, shardmap.ByRange(model.U128(0), model.U128(100)))
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const shared = 7 // The transfer id both shards use.
	for _, base := range []uint64{0, 100} {
		results, err := c.CreateTransfers(ctx, []model.Transfer{
			transfer(shared, base+1, base+2, 1, 0)})
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Fatalf("transfer %d of account %d: %v %v", shared, base+1, results, err)
		}
	}
	found, err := c.LookupTransfers(ctx, slices.Repeat([]model.Uint128{model.U128(shared)},
		model.EventsPerRequestMax))
	if err != nil || len(found) != 2*model.EventsPerRequestMax {
		t.Fatalf("%d ids on two shards: %d transfers, error %v; want %d",
			model.EventsPerRequestMax, len(found), err, 2*model.EventsPerRequestMax)
	}
	for i, transfer := range found {
		if want := model.U128(uint64(1 + 100*(i%2))); transfer.DebitAccountID != want {
			t.Fatalf("record %d: debit account %v, want %v (each id's records in shard "+
				"order)", i, transfer.DebitAccountID, want)
		}
	}
}
