package shardmap

import (
	"testing"

	"sequent/core/model"
)

// TestLookupRestart: what a lookup reply leaves to ask again. A reply of fewer than
// LookupCutRecordsMin records, or of a single id, is whole; a larger one is asked again
// after the last id it lists; when that id was asked twice, or the reply ends with an id
// not asked, it is asked again in halves.
func TestLookupRestart(t *testing.T) {
	const size = model.IDSize // Records of just their id suffice here.
	reply := func(count int, last uint64) []byte {
		body := make([]byte, count*size)
		model.U128(last).PutLE(body[(count-1)*size:])
		return body
	}
	ids := func(list ...uint64) []model.Uint128 {
		out := make([]model.Uint128, len(list))
		for i, id := range list {
			out[i] = model.U128(id)
		}
		return out
	}
	for _, test := range []struct {
		name   string
		ids    []model.Uint128
		body   []byte
		from   int
		halves bool
	}{
		{"too few records to be cut", ids(1, 2, 3), reply(LookupCutRecordsMin-1, 1), 3, false},
		{"one id", ids(7), reply(model.EventsPerRequestMax, 7), 1, false},
		{"cut after the second id", ids(1, 2, 3), reply(LookupCutRecordsMin, 2), 2, false},
		{"whole: ends with the last id", ids(1, 2, 3), reply(model.EventsPerRequestMax, 3), 3, false},
		{"the last id listed asked twice", ids(2, 1, 2, 3), reply(LookupCutRecordsMin, 2), 0, true},
		{"an id not asked", ids(1, 2, 3), reply(LookupCutRecordsMin, 9), 0, true},
	} {
		from, halves := LookupRestart(test.ids, test.body, size)
		if from != test.from || halves != test.halves {
			t.Errorf("%s: from %d, halves %v; want %d, %v", test.name, from, halves,
				test.from, test.halves)
		}
	}
	if LookupCutRecordsMin != model.EventsPerRequestMax+1-ShardsMax {
		t.Fatalf("LookupCutRecordsMin %d", LookupCutRecordsMin)
	}
}
