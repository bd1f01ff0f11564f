package router

import (
	"bytes"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
)

// TestLookupCutGivesEveryKeyWhole: a lookup_accounts whose records pass ResultsMax
// (settlement accounts have a copy on each shard of their pair, so 4,095 of their ids
// and more make more than 8,189 records) ends before the first id whose records would
// not all fit, and every id it lists has all its copies. The merge used to cut at the
// 8,189th record, leaving the id cut across with its first copy only, which reads like a
// settlement account whose credit shard has no copy yet. An id found on one shard still
// fills the last slot, and no id after the cut one is listed, even one that would fit.
func TestLookupCutGivesEveryKeyWhole(t *testing.T) {
	info, _ := model.OperationLookupAccounts.Info()
	ids := info.EventsMax
	keys := make([]byte, ids*model.IDSize)
	for i := range ids {
		model.U128(uint64(i + 1)).PutLE(keys[i*model.IDSize:])
	}
	// records lists an account record for each id given, marked with its shard.
	records := func(shard byte, list []int) []byte {
		body := make([]byte, 0, len(list)*info.ResultSize)
		for _, i := range list {
			record := make([]byte, info.ResultSize)
			copy(record, keys[i*model.IDSize:(i+1)*model.IDSize])
			record[info.ResultSize-1] = shard
			body = append(body, record...)
		}
		return body
	}
	all := make([]int, ids)
	for i := range all {
		all[i] = i
	}
	fits := info.ResultsMax / 2 // Ids of two copies that fit whole: 4,094.
	for _, test := range []struct {
		name        string
		second      []int // Ids the second shard holds (the first holds every id).
		wantRecords int
		wantLastID  int // Index of the last id listed.
		wantCopies  int // Copies of it listed.
	}{
		{"every id on both shards", all, 2 * fits, fits - 1, 2},
		{"the id after the whole ones on one shard", append(all[:fits:fits], all[fits+1:]...),
			2*fits + 1, fits, 1},
		// The reply ends at the cut id: the last id, on one shard only, would fit after
		// it, but listing it would skip the cut one (a client asks again for the ids after
		// the last one listed).
		{"an id of one record after the cut one", all[:ids-1], 2 * fits, fits - 1, 2},
	} {
		req := &request{reply: backend.Reply{Operation: model.OperationLookupAccounts},
			kind: kindLookup, keys: keys, eventSize: model.IDSize, keySize: model.IDSize}
		req.parts = []*part{{request: req, shard: 0, reply: records(0, all)},
			{request: req, shard: 1, reply: records(1, test.second)}}
		merged := (&Router{}).mergeLookup(req)
		if len(merged) != test.wantRecords*info.ResultSize {
			t.Fatalf("%s: %d records, want %d", test.name, len(merged)/info.ResultSize,
				test.wantRecords)
		}
		// Records in the order of the ids, each id's copies in shard order.
		position := 0
		for i := 0; i <= test.wantLastID; i++ {
			copies := 2
			if i == test.wantLastID {
				copies = test.wantCopies
			}
			for shard := range copies {
				record := merged[position*info.ResultSize:][:info.ResultSize]
				if !bytes.Equal(record[:model.IDSize], keys[i*model.IDSize:][:model.IDSize]) ||
					record[info.ResultSize-1] != byte(shard) {
					t.Fatalf("%s: record %d is not id %d's copy on shard %d", test.name,
						position, i+1, shard)
				}
				position++
			}
		}
	}
}
