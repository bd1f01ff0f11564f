package bench

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
)

// TestTransferTableReportsGrowth: a run that stores more transfers than the server's
// capacity says so in its report and its text, one within it says it did not grow, and
// without a known capacity the report has no transfer table at all.
func TestTransferTableReportsGrowth(t *testing.T) {
	h := newHarness(t, lieNone)
	for i, test := range []struct {
		capacity uint64
		grew     bool
	}{{capacity: 499, grew: true}, {capacity: 500, grew: false}} {
		config := h.config() // 100 requests of 5 transfers, all created.
		config.TransfersCapacity, config.RunID = test.capacity, uint64(200+i)
		report := &runOrFail(t, config).Report
		table := report.TransferTable
		if table == nil || table.CapacityPerShard != test.capacity ||
			table.StoredMost != 500 || table.Grew != test.grew {
			t.Fatalf("capacity %d: transfer table %+v, want 500 stored, grew %v",
				test.capacity, table, test.grew)
		}
		var text bytes.Buffer
		WriteText(&text, report)
		if grew := strings.Contains(text.String(), "transfer table: GREW"); grew != test.grew {
			t.Fatalf("capacity %d: text says grew %v:\n%s", test.capacity, grew, text.String())
		}
	}
	config := h.config()
	config.RunID = 210
	if table := runOrFail(t, config).Report.TransferTable; table != nil {
		t.Fatalf("transfer table %+v without a known capacity", table)
	}
}

// TestTransfersCapacityFor: the embedded server's default capacity covers what the run
// can store (the offered load, or the closed loop's ceiling, over warm-up and measured
// time, with headroom), stays within its bounds, and spreads over shards.
func TestTransfersCapacityFor(t *testing.T) {
	base := Config{Connections: 2, Inflight: 4, Events: 8189, Duration: 10 * time.Second,
		Warmup: 2 * time.Second}
	callers := base
	callers.Connections, callers.Callers, callers.Events = 16, 512, 1
	open := base
	open.Events, open.Rate = 10, 20_000
	slower := open
	slower.Rate = 10_000
	counted := base
	counted.Events, counted.Count, counted.Duration, counted.Warmup = 100, 40_000, 0, 0
	long := base
	long.Duration = time.Minute
	small := base
	small.Connections, small.Inflight, small.Events = 1, 1, 1
	for _, test := range []struct {
		name   string
		config Config
		shards int
		want   uint64
	}{
		// 512 callers (a 12-s run inserts 3 to 4 M on this machine): 12 s at the
		// closed loop's ceiling of 1 M/s, plus 25%, is 15 M: capped at 8 Mi.
		{"callers", callers, 1, TransfersCapacityMax},
		{"full batches", base, 1, TransfersCapacityMax},
		{"open loop", open, 1, 3_000_000}, // 200,000/s × 12 s + 25%.
		{"count", counted, 1, 5_000_000},  // 4 M events + 25%.
		{"long", long, 1, TransfersCapacityMax},
		// One request of one event in flight: 20,000/s × 12 s + 25%, below the least.
		{"few in flight", small, 1, TransfersCapacityMin},
		{"two shards", slower, 2, 2_250_000}, // 100,000/s × 12 s × 3/2 + 25%.
		{"two shards, capped", base, 2, TransfersCapacityMax / 2},
		{"eight shards", base, 8, TransfersCapacityMin}, // Never below the least.
	} {
		if got := TransfersCapacityFor(test.config, test.shards); got != test.want {
			t.Errorf("%s: capacity %d, want %d", test.name, got, test.want)
		}
	}
}

// TestStoredCountsCrossShardSteps: on a server of several shards a local transfer
// stores one record on its shard, a cross-shard one three (step 1 and its post on the
// debit shard, the credit on the credit shard), and one the credit side may have refused
// still the debit shard's two; the report takes the fullest shard.
func TestStoredCountsCrossShardSteps(t *testing.T) {
	r := &run{shards: 2, shardOf: []uint16{0, 1, 0}}
	r.config.Mix[KindSingle], r.config.TransfersCapacity = 1, 5
	w := &worker{run: r, stored: make([]uint64, r.shards)}
	w.countStored(&eventMeta{debit: 0, credit: 2}, true)  // Local on shard 0.
	w.countStored(&eventMeta{debit: 2, credit: 0}, false) // Local, refused: nothing.
	w.countStored(&eventMeta{debit: 0, credit: 1}, true)  // Crosses, created.
	w.countStored(&eventMeta{debit: 1, credit: 0}, false) // Crosses, refused.
	if w.stored[0] != 1+2 || w.stored[1] != 1+2 {
		t.Fatalf("stored per shard %v, want [3 3]", w.stored)
	}
	other := &worker{run: r, stored: []uint64{3, 0}}
	table := r.transferTable([]*worker{w, other})
	if table.StoredMost != 6 || !table.Grew {
		t.Fatalf("transfer table %+v, want 6 stored on shard 0, grew", table)
	}
}

// TestStoredCountsUndoneLinkedAndUnknown: an event of a linked chain that was undone
// leaves its id slot taken, so it counts as stored (on one shard in settleTransfers, on
// several in countStoredOnShards), while a single transfer that was refused does not;
// every event of a request whose outcome is unknown counts, since it may have been
// applied. The accounts are on one shard (the second of two, or the only one).
func TestStoredCountsUndoneLinkedAndUnknown(t *testing.T) {
	for _, shardOf := range [][]uint16{nil, {1, 1}} {
		r := &run{shards: max(len(shardOf), 1), shardOf: shardOf}
		w := &worker{run: r, stored: make([]uint64, r.shards)}
		meta := []eventMeta{{debit: 0, credit: 1}, {debit: 1, credit: 0}}
		failed := make([]byte, len(meta)*model.EventResultSize)
		for i := range meta {
			binary.LittleEndian.PutUint32(failed[i*model.EventResultSize+8:],
				uint32(model.StatusExceedsCredits))
		}
		for _, kind := range []Kind{KindLinked, KindSingle} {
			s := &slot{kind: kind, events: len(meta), meta: meta}
			if !w.settleTransfers(failed, s, nil) {
				t.Fatalf("shards %v: %v refused as a malformed reply", shardOf, kind)
			}
		}
		w.outcomeUnknown(&slot{kind: KindSingle, events: len(meta), meta: meta})
		if shard := r.shards - 1; w.stored[shard] != 2+2 {
			t.Fatalf("shards %v: stored per shard %v, want 4 on shard %d (2 undone "+
				"linked, 2 of unknown outcome)", shardOf, w.stored, shard)
		}
	}
}
