package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core/model"
)

// TestReviewlk48LookupMatchesANaiveModelOnThreeShards: on a node of three shards where
// transfer id k is used on shards 0 .. (k mod 4) - 1 (on none, one, two or all three),
// LookupTransfers of random lists (ids asked several times; up to 20,000 ids, so several
// runs, some cut and asked again after later runs were answered, some in halves) returns
// exactly what a naive model says: each id's transfers in shard order, in the order
// asked.
func TestReviewlk48LookupMatchesANaiveModelOnThreeShards(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const idsMax = 4000
	holders := func(id uint64) uint64 { return id % 4 }
	for shard, base := range []uint64{0, 100, 200} { // Each shard's accounts base+1, base+2.
		var transfers []model.Transfer
		for id := uint64(1); id <= idsMax; id++ {
			if uint64(shard) < holders(id) {
				transfers = append(transfers, transfer(id, base+1, base+2, 1, 0))
			}
		}
		results, err := c.CreateTransfers(ctx, transfers)
		if err != nil {
			t.Fatal(err)
		}
		for i, result := range results {
			if result.Status != model.StatusOK {
				t.Fatalf("shard %d: transfer %d: %s", shard, i, result.Status)
			}
		}
	}
	random := rand.New(rand.NewPCG(48, 2))
	for list := 0; list < 8; list++ {
		count := 1 + random.IntN(20000)
		if list < 2 {
			count = model.EventsPerRequestMax - random.IntN(100)
		}
		full := random.IntN(9) // In 8, how often an id on all three shards is drawn.
		ids := make([]model.Uint128, 0, count)
		var want []string
		for len(ids) < count {
			id := 1 + random.Uint64N(idsMax+100) // Some above idsMax: on no shard.
			if random.IntN(8) < full {
				id = id - id%4 + 3
			}
			if len(ids) > 0 && random.IntN(10) == 0 {
				id = ids[random.IntN(len(ids))].Lo
			}
			ids = append(ids, model.U128(id))
			if id <= idsMax {
				for shard := uint64(0); shard < holders(id); shard++ {
					want = append(want, fmt.Sprintf("%d:%d", id, 100*shard+1))
				}
			}
		}
		t.Logf("list %d: %d ids, %d records", list, len(ids), len(want))
		found, err := c.LookupTransfers(ctx, ids)
		if err != nil {
			t.Fatalf("list %d: %v", list, err)
		}
		got := make([]string, len(found))
		for i, transfer := range found {
			got[i] = fmt.Sprintf("%d:%d", transfer.ID.Lo, transfer.DebitAccountID.Lo)
		}
		if !slices.Equal(got, want) {
			first := 0
			for first < min(len(got), len(want)) && got[first] == want[first] {
				first++
			}
			t.Fatalf("list %d (%d ids): %d transfers, want %d; first difference at %d",
				list, len(ids), len(got), len(want), first)
		}
	}
}
