package api

import (
	"testing"

	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestReviewac47OneLookupsNodeWorkIsBounded: one POST /v1/transfers/lookup is admitted
// (charged) once, for its ids, and then asks the node again as often as cut replies say.
// On a node of n shards one transfer id each shard uses, asked 8,189 times, has 8,189 × n
// records: without a bound the request was halved down to lists of fewer than 7,934 / n
// ids, 2^(k+1) − 1 submits (7 on 2 shards, 31 on 8, 127 on 32, 1,023 on 256), every record
// gathered and answered (2,096,384 transfers on 256 shards) for one request of 8,189
// events (found by reviewac47). Now at most lookupSubmitsMax submits and lookupRecordsMax
// records: on 2 shards the request is answered whole; on 8 and 32 it is refused 422
// too_many_records after at most lookupSubmitsMax submits.
func TestReviewac47OneLookupsNodeWorkIsBounded(t *testing.T) {
	for _, shards := range []int{2, 8, 32} {
		node := &shardsNode{shards: shards}
		h := shardsNodeHarness(t, node)
		answer := h.operator("POST", "/v1/transfers/lookup",
			repeatedIDs("7", model.EventsPerRequestMax))
		t.Logf("%d shards: HTTP %d, %d lookups asked of the node, %d ids asked",
			shards, answer.code, node.lookups.Load(), node.idsAsked.Load())
		if node.lookups.Load() > lookupSubmitsMax {
			t.Errorf("%d shards: one HTTP lookup of %d ids made %d submits, more than %d",
				shards, model.EventsPerRequestMax, node.lookups.Load(), lookupSubmitsMax)
		}
		if shards == 2 {
			h.expect(answer, 200, "")
			if found := len(decode[[]jsonview.Transfer](t, answer)); found != 2*model.EventsPerRequestMax {
				t.Errorf("2 shards: %d transfers answered, want %d", found, 2*model.EventsPerRequestMax)
			}
			continue
		}
		h.expect(answer, 422, "too_many_records")
	}
}
