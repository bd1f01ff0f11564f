package shard

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"sequent/core/backend"
)

// Review of 0968f29 (session 38): the replay releases the store's lock between batches.
// These tests run the replay against reports added concurrently by another goroutine (as
// the sequencer's deliverReports does), not only from inside fn as the commit's own tests
// do, so that `go test -race` sees the copy-out and Add overlap.

// replayChecked runs one replay from `from` and checks what PROTOCOL.md section 8 needs
// of it, given that the producer had stored every sequence up to lastBefore when the
// replay began and at most up to lastAfter once it ended:
//   - handed-over sequences rise strictly, are at or above from, below next, and each
//     body is its own sequence's (never a ring slot overwritten while copying);
//   - next is the client's next sequence at some point of the replay: above lastBefore,
//     at most lastAfter+1;
//   - no loss is hidden: every sequence from max(from, oldest) to next-1 was handed over
//     (with the above: the handed-over ones at or above max(from, oldest) are exactly
//     those); any others lie in from..oldest-1, which oldest tells the client to
//     reconcile. jumped reports whether there were such others (an overrun).
func replayChecked(t *testing.T, store *ReportStore, client uint64, from uint64,
	lastBefore func() uint64, lastAfter func() uint64, pause func(batch int)) (jumped bool) {
	t.Helper()
	before := lastBefore()
	var sequences []uint64
	batch := 0
	oldest, next := store.replay(client, from, func(reports []backend.Report) {
		for _, report := range reports {
			if got := binary.LittleEndian.Uint64(report.Body); got != report.Sequence {
				t.Errorf("report %d handed over with the body of %d", report.Sequence, got)
			}
			sequences = append(sequences, report.Sequence)
		}
		pause(batch)
		batch++
	})
	after := lastAfter()
	if next <= before || next > after+1 {
		t.Fatalf("from %d: next %d, but %d was stored before the replay and at most %d after",
			from, next, before, after)
	}
	if oldest > next {
		t.Fatalf("from %d: oldest %d above next %d", from, oldest, next)
	}
	previous := uint64(0)
	for _, sequence := range sequences {
		if sequence <= previous || sequence < from || sequence >= next {
			t.Fatalf("from %d: sequence %d after %d (next %d)", from, sequence, previous, next)
		}
		previous = sequence
	}
	// The tail the replay must have handed over without a gap.
	tailFrom := max(from, oldest)
	tail := 0
	for i := len(sequences) - 1; i >= 0 && sequences[i] >= tailFrom; i-- {
		tail++
	}
	if tailFrom < next && uint64(tail) != next-tailFrom {
		t.Fatalf("from %d: oldest %d, next %d: handed over %d of the %d reports %d..%d",
			from, oldest, next, tail, next-tailFrom, tailFrom, next-1)
	}
	return tail != len(sequences)
}

// TestReplayAgainstConcurrentAdds: one goroutine adds a client's reports in chunks of
// varied size (some larger than a batch, some than the ring) while replays from varied
// sequences run; every replay keeps the invariants of replayChecked. The adding goes a
// chunk per tick, which a replay gives as it starts and after its first two batches
// (without waiting): the adds overlap the copy-out, at most three chunks per replay (so
// that they cannot keep a replay chasing them: TestReplayWorkIsBounded), and the whole
// is bounded by count.
func TestReplayAgainstConcurrentAdds(t *testing.T) {
	const client = 21
	const replaysTotal = 600
	store := NewReportStore()
	// stored: highest sequence whose Add returned; storing: highest one being added.
	var stored, storing atomic.Uint64
	tick, stop := make(chan struct{}, 4), make(chan struct{})
	poke := func() {
		select {
		case tick <- struct{}{}:
		default:
		}
	}
	keepReports(store, client, 1, reportsKeptPerClient)
	stored.Store(reportsKeptPerClient)
	storing.Store(reportsKeptPerClient)
	var wait sync.WaitGroup
	wait.Add(1)
	go func() {
		defer wait.Done()
		chunks := []uint64{1, 7, reportReplayBatch + 3, 40, reportsKeptPerClient + 11, 2, 300}
		for sequence, i := uint64(reportsKeptPerClient+1), 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick:
			}
			last := sequence + chunks[i%len(chunks)] - 1
			storing.Store(last)
			keepReports(store, client, sequence, last)
			stored.Store(last)
			sequence = last + 1
		}
	}()
	defer wait.Wait()
	defer close(stop)
	jumps := 0
	for replay := 0; replay < replaysTotal; replay++ {
		poke()
		top := stored.Load()
		// From the start, from inside the ring, from the top (a live subscription's read).
		from := [...]uint64{1, top/2 + 1, top + 1, top - min(top, reportReplayBatch) + 1}[replay%4]
		if replayChecked(t, store, client, from, stored.Load, storing.Load,
			func(batch int) {
				if batch < 2 {
					poke()
				}
				if batch%2 == 1 {
					runtime.Gosched() // Let the adding overrun the replay now and then.
				}
			}) {
			jumps++
		}
	}
	t.Logf("%d replays, %d overrun by the ring, %d reports added", replaysTotal, jumps,
		stored.Load())
}

// TestReplayWorkIsBounded: with the lock released between batches the replay chases the
// client's newest report (reports added between batches are included, by design of
// 0968f29). A client whose reports come faster than a batch is handed over keeps the
// replay going for as long as they come: here it stops only because the test stops
// adding after 200 batches. Before 0968f29 a replay handed over at most
// reportsKeptPerClient reports (it held the lock). The network layer already holds the
// live reports delivered meanwhile (conn.reports.pending), so a replay could stop at the
// newest report it saw with the first batch and answer next from there (and an oldest
// of at most that next: tried, TestReplayAgainstConcurrentAdds caught an oldest above
// next without the cap; the commit's own tests, which expect the reports added between
// batches, then change). FAILS at 0968f29: 201 batches handed over, not at most
// reportsKeptPerClient/reportReplayBatch + 1.
func TestReplayWorkIsBounded(t *testing.T) {
	const client = 22
	const stopAddingAfterBatches = 200
	store := NewReportStore()
	keepReports(store, client, 1, reportReplayBatch)
	last := uint64(reportReplayBatch)
	batches := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.replay(client, 1, func([]backend.Report) {
			batches++
			if batches < stopAddingAfterBatches {
				keepReports(store, client, last+1, last+reportReplayBatch+1)
				last += reportReplayBatch + 1
			}
		})
	}()
	<-done
	if bound := reportsKeptPerClient/reportReplayBatch + 1; batches > bound {
		t.Fatalf("one replay handed over %d batches while reports kept coming; want at "+
			"most %d", batches, bound)
	}
}
