package api

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// twoShardsNode is a fake node of two shards answering transfer lookups as the router
// merges them: for each id asked, in order, its records on every shard (id mod 3 of
// them: 0, 1 or 2), the reply ending before the first id whose records would not all
// fit in one reply.
type twoShardsNode struct {
	server  atomic.Pointer[Server]
	lookups atomic.Int64
}

func (n *twoShardsNode) Submit(request *backend.Request) model.Status {
	n.lookups.Add(1)
	var body []byte
	for offset := 0; offset < len(request.Body); offset += model.IDSize {
		id := model.Uint128LE(request.Body[offset:])
		copies := int(id.Lo % 3)
		if len(body)/model.TransferSize+copies > model.EventsPerRequestMax {
			break
		}
		body = appendShardRecords(body, id, copies)
	}
	n.server.Load().deliver(&backend.Reply{Connection: request.Connection,
		Status: model.StatusOK, Body: body})
	return model.StatusOK
}

// TestTwoShardLookupNeedsAtMostSevenSubmits: on a node of two shards the ids of one
// lookup have at most 2 × 8,189 records, and readRecords asks the node at most 7 times
// (its comment gives the reckoning; limits.go's lookupSubmitsMax, 9, leaves a margin).
// The worst case is reached: one id with a record on both shards asked 8,189 times
// takes the whole list, each half, and the four quarters. Lists of ids with 0, 1 or 2
// records, repeated or not, take no more, and every record is answered.
func TestTwoShardLookupNeedsAtMostSevenSubmits(t *testing.T) {
	const worstCase = 7
	node := &twoShardsNode{}
	h := fakeNodeHarness(t, node, &node.server, 0)
	lookup := func(name string, ids []uint64) int64 {
		t.Helper()
		quoted := make([]string, len(ids))
		want := 0
		for i, id := range ids {
			quoted[i] = `"` + strconv.FormatUint(id, 10) + `"`
			want += int(id % 3)
		}
		before := node.lookups.Load()
		answer := h.operator("POST", "/v1/transfers/lookup",
			`{"ids":[`+strings.Join(quoted, ",")+`]}`)
		h.expect(answer, 200, "")
		if found := len(decode[[]jsonview.Transfer](t, answer)); found != want {
			t.Errorf("%s: %d transfers answered, want %d", name, found, want)
		}
		submits := node.lookups.Load() - before
		if submits > worstCase {
			t.Errorf("%s: %d submits, more than %d", name, submits, worstCase)
		}
		return submits
	}
	repeated := make([]uint64, model.EventsPerRequestMax)
	for i := range repeated {
		repeated[i] = 2 // Two records.
	}
	if submits := lookup("one id with two records, 8,189 times", repeated); submits != worstCase {
		t.Errorf("one id with two records asked 8,189 times: %d submits, want %d (the "+
			"whole list, its halves, their halves)", submits, worstCase)
	}
	random := rand.New(rand.NewPCG(49, 7))
	for round := range 12 {
		ids := make([]uint64, model.EventsPerRequestMax-random.IntN(300))
		distinct := uint64(1 + random.IntN(4000)) // Few distinct ids: many repeats.
		for i := range ids {
			ids[i] = 3*random.Uint64N(distinct) + 2 // Mostly two records.
			if random.IntN(16) == 0 {
				ids[i] -= uint64(1 + random.IntN(2)) // Sometimes one or none.
			}
		}
		lookup("random list "+strconv.Itoa(round), ids)
	}
}
