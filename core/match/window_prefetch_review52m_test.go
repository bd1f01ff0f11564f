package match

import (
	"bytes"
	"math"
	"testing"

	"sequent/core/event"
	"sequent/core/ledger"
	"sequent/core/model"
)

// TestWindowPrefetchEdgesReview52m (review of match52: "every index computed for a
// prefetch is within its slice in every state"). prefetchForget indexes the ring at
// oldest+windowRingAhead and oldest+windowForgetAhead (modulo max), and find, at the
// last id of a group, hashes id+1 (0 for the largest id) into a home bucket. The test
// drives windows of max 1, 2, 7, 8, 9 and 16 (windowRingAhead at, above and below max),
// with the ring's storage preallocated or grown, through ids that end groups (7 mod 8)
// up to 2^64-1, slots without a key (age), a ring filling and wrapping, and a rebuild
// as Restore does (fewer slots than max, into a window of another max): any index out
// of its slice would panic. After each step every key of the model's last max slots is
// found with its own entry and every forgotten key is not.
func TestWindowPrefetchEdgesReview52m(t *testing.T) {
	type key struct{ client, account, clientOrderID uint64 }
	ids := []uint64{1, 7, 8, 15, 16, math.MaxUint64 - 8, math.MaxUint64 - 1,
		math.MaxUint64, 23, 31, 39}
	for _, max := range []uint32{1, 2, 7, 8, 9, 16} {
		for _, capacity := range []uint32{0, max} {
			w := &clientOrderWindow{}
			w.init(max, capacity, 0x52)
			var ring []key // Oldest first; the zero key is a slot without a key.
			next := uint64(1)
			check := func(step int) {
				t.Helper()
				if w.count() != uint32(len(ring)) {
					t.Fatalf("max %d step %d: %d slots, model %d", max, step, w.count(),
						len(ring))
				}
				live := map[key]bool{}
				for i, k := range ring {
					if k == (key{}) {
						continue
					}
					live[k] = true
					entry, found := w.find(k.client, k.account, k.clientOrderID)
					if !found || entry != w.at(uint32(i)) {
						t.Fatalf("max %d step %d: key %v lost", max, step, k)
					}
				}
				for _, id := range ids {
					for account := uint64(1); account <= 2; account++ {
						k := key{9, account, id}
						if _, found := w.find(9, account, id); found != live[k] {
							t.Fatalf("max %d step %d: key %v found %v", max, step, k, found)
						}
					}
				}
			}
			take := func(k key) {
				if uint32(len(ring)) == max {
					ring = ring[1:]
				}
				ring = append(ring, k)
			}
			step := 0
			for round := range 3 {
				for _, id := range ids {
					for account := uint64(1); account <= 2; account++ {
						k := key{9, account, id}
						if _, found := w.find(k.client, k.account, k.clientOrderID); found {
							continue // Still remembered: a resend.
						}
						take(k)
						w.remember(windowEntry{client: k.client, account: k.account,
							clientOrderID: k.clientOrderID, orderID: next, timestamp: next,
							status: model.StatusOK, kind: commandPlace})
						next++
						check(step)
						step++
					}
					if id%3 == 0 && w.index.count != 0 {
						take(key{})
						w.age()
						check(step)
						step++
					}
				}
				// Rebuild as Restore does, into a window of another max that still holds
				// the slots (a config changed between snapshot and restore).
				rebuilt := &clientOrderWindow{}
				newMax := max + uint32(round)
				rebuilt.init(newMax, 0, 0x53+uint64(round))
				for len(ring) != 0 && ring[0] == (key{}) {
					ring = ring[1:]
				}
				for i := w.firstKeyed(); i < w.count(); i++ {
					entry := *w.at(i)
					if entry.account == 0 {
						rebuilt.age()
						continue
					}
					if _, found := rebuilt.find(entry.client, entry.account,
						entry.clientOrderID); found {
						t.Fatalf("max %d: restored key found before it is remembered", max)
					}
					rebuilt.remember(entry)
				}
				w, max = rebuilt, newMax
				check(step)
				step++
			}
		}
	}
}

// TestRestoreChangedWindowMaxReview52m (review of match52: "after a snapshot restore,
// with max changed by config between snapshot and restore"). An engine whose window of
// 9 is full and wrapped (ids ending groups, up to 2^64-1) is snapshot and restored with
// ClientOrderIDsMax 9, 10 and 64 (accepted: the window then has fewer slots than max)
// and 8 (refused: more slots than max); each restored engine answers a resend of its
// newest key as remembered and takes 20 more new keys, through the ring's fill and wrap.
func TestRestoreChangedWindowMaxReview52m(t *testing.T) {
	h := newHarness(t, Config{ClientOrderIDsMax: 9}, testInstrumentRecord())
	h.trader(1, 1_000_000, 10_000_000)
	ids := []uint64{1, 6, 7, 8, 15, 16, 23, math.MaxUint64 - 8, math.MaxUint64 - 1,
		math.MaxUint64, 31, 39}
	for i, id := range ids {
		h.placeOK(1, limitOrder(1, id, model.SideBuy, 100+5*uint64(i), 10))
	}
	var ledgerBytes, engineBytes bytes.Buffer
	if _, err := h.l.Snapshot().WriteTo(&ledgerBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Snapshot().WriteTo(&engineBytes); err != nil {
		t.Fatal(err)
	}
	for _, max := range []uint32{8, 9, 10, 64} {
		l, err := ledger.Restore(ledger.Config{HashSeed: 11},
			bytes.NewReader(ledgerBytes.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Restore(l, Config{ClientOrderIDsMax: max, HashSeed: 5},
			bytes.NewReader(engineBytes.Bytes()))
		if max < 9 {
			if err == nil {
				t.Fatalf("max %d: a window of 9 restored", max)
			}
			continue
		}
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		r := &harness{t: t, l: l, e: e, config: Config{ClientOrderIDsMax: max, HashSeed: 5},
			clock: h.clock}
		resend := r.place(1, limitOrder(1, 39, model.SideBuy, 100+5*11, 10))[0]
		if resend.Status != model.StatusOK || resend.OrderID != uint64(len(ids)) {
			t.Fatalf("max %d: resend %+v", max, resend)
		}
		for n := uint64(0); n < 20; n++ {
			r.placeOK(1, limitOrder(1, 1000+n, model.SideSell, 1000, 10))
		}
	}
}

// TestCallgrindRecipeNeverFillsWindowReview52m (review of match52: "a 200,000-command
// run never fills the 1 Mi ring, so the ring prefetch does not show in callgrind's
// count"). The callgrind recipe (core/match/README.md, session 31) runs BenchmarkMatching
// at -test.benchtime 200000x: the initial book and the 200,000 timed commands take fewer
// slots than ClientOrderIDsMaxDefault, so prefetchForget returns at its first test on
// every command of the count, and only a longer run (or BenchmarkWindow) pays for it.
func TestCallgrindRecipeNeverFillsWindowReview52m(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two engines with the default 1 Mi window")
	}
	const recipeCommands = 200_000
	variant := benchVariant{name: "book-only"}
	commands := benchStream(t, recipeCommands, variant)
	bench := newBench(t, variant, 0)
	var events event.Buffer
	benchApplyAll(bench, commands, &events)
	w := &bench.engine.window
	if bench.failures != 0 || w.max != ClientOrderIDsMaxDefault {
		t.Fatalf("%d failures, window of %d", bench.failures, w.max)
	}
	if w.count() >= w.max || w.remembered < recipeCommands {
		t.Fatalf("%d slots taken (%d remembered) of %d: the recipe fills the window",
			w.count(), w.remembered, w.max)
	}
	t.Logf("%d slots of %d taken", w.count(), w.max)
}
