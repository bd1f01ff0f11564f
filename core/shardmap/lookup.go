package shardmap

import "sequent/core/model"

// LookupCutRecordsMin is the fewest records of a lookup reply that may have been cut: a
// node of n shards cuts a reply before the first id whose records would not all fit, so
// a cut reply holds at least ResultsMax + 1 - n records (PROTOCOL.md section 18, "Lookups
// on several shards"), and a reader that does not know n takes the most a node may have.
const LookupCutRecordsMin = model.EventsPerRequestMax + 1 - ShardsMax

// LookupRestart says what a lookup reply (records of size bytes, each starting with its
// id) of the ids asked leaves to ask again: the ids from index from on (len(ids): none,
// the reply is whole; 0 with halves). A reply of fewer than LookupCutRecordsMin records
// was not cut; a larger one ends with the last id it lists, and the ids after it are
// asked again (at worst an id missing everywhere is asked twice). When that id is asked
// more than once, where the reply stopped is not known: halves says to drop the reply and
// ask its ids again in two requests, ids[:len(ids)/2] and ids[len(ids)/2:] (each half can
// hold every record of its ids but on a node of many shards, and is treated the same
// way). Every list it says to ask again is strictly shorter than ids and not empty, so
// asking again ends. The Go client (netio/client) and the JSON API (netio/api) share it.
func LookupRestart(ids []model.Uint128, body []byte, size int) (from int, halves bool) {
	records := len(body) / size
	if records < LookupCutRecordsMin || len(ids) < 2 {
		return len(ids), false
	}
	last := model.Uint128LE(body[(records-1)*size:])
	from = -1
	for i, id := range ids {
		if id == last {
			if from >= 0 {
				return 0, true
			}
			from = i + 1
		}
	}
	if from < 0 {
		return 0, true // A record of an id not asked: ask again, halved.
	}
	return from, false
}
