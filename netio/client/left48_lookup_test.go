package client

import (
	"context"
	"errors"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// TestLookupRepeatsAreBounded: a lookup whose ids have a record on each of eight shards
// (one transfer id that every shard uses, asked 8,189 times) fails with
// ErrLookupTooManyRecords once it would send more than LookupRepeatsPerRequestMax
// requests again; without the bound it went on asking again (each cut reply named the id
// asked more than once, so its ids were asked again in halves) and answered all 65,512
// records. The same id asked fewer times is answered whole (as is the request that
// needs the most repeats on the three shards of the route tests,
// TestReviewle47LookupCutReplyLosesNoID).
func TestLookupRepeatsAreBounded(t *testing.T) {
	const shards = 8
	bounds := make([]model.Uint128, shards)
	for i := range bounds {
		bounds[i] = model.U128(uint64(i) * 100)
	}
	s := startShardedServerWith(t, shardmap.ByRange(bounds...))
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const shared = 7 // The transfer id every shard uses.
	for shard := uint64(0); shard < shards; shard++ {
		base := shard * 100
		if base > 200 { // dial created the accounts of shards 0 to 2.
			createAccountsAt(t, c, base)
		}
		results, err := c.CreateTransfers(ctx, []model.Transfer{
			transfer(shared, base+1, base+2, 1, 0)})
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Fatalf("transfer %d on shard %d: %v %v", shared, shard, results, err)
		}
	}

	found, err := c.LookupTransfers(ctx, slices.Repeat([]model.Uint128{model.U128(shared)}, 100))
	if err != nil || len(found) != 100*shards {
		t.Fatalf("100 ids: %d transfers, error %v; want %d", len(found), err, 100*shards)
	}
	found, err = c.LookupTransfers(ctx, slices.Repeat([]model.Uint128{model.U128(shared)},
		model.EventsPerRequestMax))
	if !errors.Is(err, ErrLookupTooManyRecords) {
		t.Fatalf("%d ids on %d shards: %d transfers, error %v; want ErrLookupTooManyRecords",
			model.EventsPerRequestMax, shards, len(found), err)
	}
}
