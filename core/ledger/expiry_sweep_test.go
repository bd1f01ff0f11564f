package ledger

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// sweepResolvedCount is how many pending transfers with a timeout
// TestExpirySweepVisitsEveryResolvedEntry posts before their deadlines: far more than
// one sweep may expire (ExpiriesPerPulseMax).
const sweepResolvedCount = 100_000

// TestExpirySweepVisitsEveryResolvedEntry measures, as a count of heap entries (not
// time), the work of one sweep: Expire, which the machine calls once per log entry. It
// pins two facts that a bound on that work has to respect (this test changes with it):
//
//   - The sweep skips the entries of transfers posted or voided before their deadline
//     without counting them against ExpiriesPerPulseMax: 100,000 pending transfers with
//     one timeout, all posted, then one left pending with a later deadline, and the one
//     entry past their deadlines visits all 100,001 entries (and expires the last). The
//     heap keeps one entry per pending transfer ever made with a timeout and not yet
//     swept, so this work grows with the transfers limit (2^27), all in one entry.
//   - Those skipped entries are not state: a ledger restored from a snapshot rebuilds the
//     heap from the pending transfers still active, so the same sweep visits 1 entry
//     there. Counting the skips against the bound (the obvious fix) would make which
//     entry expires a transfer depend on whether the machine was restored or replayed.
func TestExpirySweepVisitsEveryResolvedEntry(t *testing.T) {
	f := newFixture(t)
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	flush := func() {
		for i, result := range f.transfers(batch...) {
			if result.Status != model.StatusOK {
				t.Fatalf("transfer %s: %s", batch[i].ID, result.Status)
			}
		}
		batch = batch[:0]
	}
	for id := uint64(1); id <= sweepResolvedCount; id++ {
		batch = append(batch, pending(id, 1, 2, 1, 1))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	for id := uint64(1); id <= sweepResolvedCount; id++ {
		batch = append(batch, post(sweepResolvedCount+id, id, model.U128(1)))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	batch = append(batch, pending(3*sweepResolvedCount, 1, 2, 7, 1)) // The last deadline.
	flush()

	var snapshot bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{HashSeed: 99}, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sweep := f.timestamp + 2*second
	for _, ledger := range []struct {
		name    string
		ledger  *Ledger
		visited int
	}{{"live", f.ledger, sweepResolvedCount + 1}, {"restored", restored, 1}} {
		entries := len(ledger.ledger.expiry.items)
		expired := ledger.ledger.Expire(sweep, nil)
		if visited := entries - len(ledger.ledger.expiry.items); visited != ledger.visited ||
			expired != 1 {
			t.Errorf("%s ledger: one sweep visited %d heap entries and expired %d, want %d and 1",
				ledger.name, visited, expired, ledger.visited)
		}
	}
	if f.ledger.Digest() != restored.Digest() {
		t.Error("the live and the restored ledger differ after the sweep")
	}
}
