package client

import (
	"context"
	"slices"
	"testing"

	"sequent/core/model"
)

// TestReviewle47LookupCutReplyLosesNoID: on a node of several shards a transfer id can be
// used on two shards (ids are unique per shard, PROTOCOL.md section 18), so a lookup of
// 4,095 such ids finds 8,190 records, one more than a reply holds. The node then cuts the
// reply before the first id whose records do not all fit (4,094 ids, 8,188 records) and
// PROTOCOL.md tells the client to ask again for the ids after the last one listed.
// LookupTransfers sent all 4,095 ids in one request and returned the cut reply as the
// whole answer: id 4,095's two transfers were missing, with no error, as if the id did
// not exist. Also with an id asked twice, before and after the cut, and with the last id
// listed asked twice (where the reply stopped is then not known from the ids), and with
// a cut request followed by another.
func TestReviewle47LookupCutReplyLosesNoID(t *testing.T) {
	s := startShardedServer(t)
	c := s.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const ids = model.EventsPerRequestMax/2 + 1 // 4,095: two records each pass 8,189.
	const single = 9001                         // A transfer id of shard 0 only.
	for _, base := range []uint64{0, 100} {     // Shard 0's accounts 1, 2; shard 1's 101, 102.
		transfers := make([]model.Transfer, ids)
		for i := range transfers {
			transfers[i] = transfer(uint64(i+1), base+1, base+2, 1, 0)
		}
		if base == 0 {
			transfers = append(transfers, transfer(single, 1, 2, 1, 0))
		}
		results, err := c.CreateTransfers(ctx, transfers)
		if err != nil {
			t.Fatal(err)
		}
		for i, result := range results {
			if result.Status != model.StatusOK {
				t.Fatalf("shard of accounts %d: transfer %d: %s", base+1, i+1, result.Status)
			}
		}
	}
	upTo := func(n uint64) []uint64 {
		list := make([]uint64, n)
		for i := range list {
			list[i] = uint64(i + 1)
		}
		return list
	}
	for _, test := range []struct {
		name string
		ids  []uint64
	}{
		{"4,095 ids on two shards", upTo(ids)},
		{"an id asked before and after the cut", append(upTo(ids-1), 1, ids)},
		{"the last id listed asked twice", append(append(append([]uint64{single},
			upTo(ids-2)...), single), ids-1, ids)},
		// Two requests: the first (4,095 ids on two shards, 4,094 of shard 0's only) cut,
		// the second's records after those the first left.
		{"a cut request before another", append(append(upTo(ids),
			slices.Repeat([]uint64{single}, model.EventsPerRequestMax-ids)...), 1, 2, 3)},
	} {
		list := make([]model.Uint128, len(test.ids))
		var want []model.Uint128 // Each id's transfers in shard order: debit 1, then 101.
		for i, id := range test.ids {
			list[i] = model.U128(id)
			want = append(want, model.U128(1))
			if id != single {
				want = append(want, model.U128(101))
			}
		}
		found, err := c.LookupTransfers(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		var got []model.Uint128
		position := 0
		for _, id := range test.ids {
			for copies := 0; copies < 2 && position < len(found) &&
				found[position].ID == model.U128(id); copies++ {
				got = append(got, found[position].DebitAccountID)
				position++
			}
		}
		if len(found) != len(want) || position != len(found) || !slices.Equal(got, want) {
			t.Fatalf("%s: %d transfers found (%d in the order asked), want %d, each id's "+
				"on shards 0 and 1", test.name, len(found), position, len(want))
		}
	}
}
