package shard

import (
	"encoding/binary"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
)

// reportWithSequence is a report body that names its own sequence, so that a test can
// tell a replayed body from an overwritten one.
func reportWithSequence(sequence uint64) []byte {
	body := make([]byte, model.ExecutionReportSize)
	binary.LittleEndian.PutUint64(body, sequence)
	return body
}

func keepReports(store *ReportStore, client uint64, first uint64, last uint64) {
	store.mutex.Lock()
	defer store.mutex.Unlock()
	for sequence := first; sequence <= last; sequence++ {
		store.keepLocked(client, sequence, reportWithSequence(sequence))
	}
}

// replayAll replays from `from` on a goroutine, running during(batch index) inside fn,
// and returns the sequences handed over with (oldest, next). It fails the test rather
// than hang if the replay does not end: fn adding reports deadlocked while a replay held
// the store's lock across fn.
func replayAll(t *testing.T, store *ReportStore, client uint64, from uint64,
	during func(batch int)) (sequences []uint64, oldest uint64, next uint64) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := 0
		oldest, next = store.replay(client, from, func(reports []backend.Report) {
			for _, report := range reports {
				if got := binary.LittleEndian.Uint64(report.Body); got != report.Sequence {
					t.Errorf("report %d handed over with the body of %d", report.Sequence, got)
				}
				sequences = append(sequences, report.Sequence)
			}
			if during != nil {
				during(batch)
			}
			batch++
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the replay did not end: reports could not be added while it ran")
	}
	return sequences, oldest, next
}

// TestReplayLetsReportsBeAddedBetweenBatches: the sequencer adds the released reports
// under the store's lock; a replay held it while it handed every batch over, so the
// shard's releases waited for a whole replay (up to 4,096 reports encoded and queued).
// Reports added while a batch is handed over must go in; the replay ends at the newest
// report of its first read (the later ones are live: the network layer holds them while
// it replays and sends them after the subscribed answer), and says next from there.
func TestReplayLetsReportsBeAddedBetweenBatches(t *testing.T) {
	const client = 9
	store := NewReportStore()
	keepReports(store, client, 1, 600)
	sequences, oldest, next := replayAll(t, store, client, 1, func(batch int) {
		if batch == 0 {
			keepReports(store, client, 601, 700)
		}
	})
	if oldest != 1 || next != 601 || len(sequences) != 600 {
		t.Fatalf("replay: oldest %d, next %d, %d reports; want 1, 601, 600", oldest, next,
			len(sequences))
	}
	for i, sequence := range sequences {
		if sequence != uint64(i+1) {
			t.Fatalf("report %d handed over as the %dth", sequence, i+1)
		}
	}
	if _, next := store.replay(client, 1<<62, nil); next != 701 {
		t.Fatalf("the reports added during the replay were not kept: next %d, want 701", next)
	}
}

// TestReplayDoesNotClaimHandedOverReportsLost: the ring is full, so every report added
// during the replay pushes the oldest retained sequence up. The reports handed over
// before that are not lost: the oldest answered is the one read with the first batch.
func TestReplayDoesNotClaimHandedOverReportsLost(t *testing.T) {
	const client = 10
	store := NewReportStore()
	keepReports(store, client, 1, reportsKeptPerClient)
	sequences, oldest, next := replayAll(t, store, client, 1, func(batch int) {
		if batch == 0 {
			keepReports(store, client, reportsKeptPerClient+1, reportsKeptPerClient+100)
		}
	})
	if oldest != 1 || next != reportsKeptPerClient+1 || len(sequences) != reportsKeptPerClient {
		t.Fatalf("replay: oldest %d, next %d, %d reports; want 1, %d, %d", oldest, next,
			len(sequences), reportsKeptPerClient+1, reportsKeptPerClient)
	}
}

// TestReplayOverrunByTheRingSaysSo: so many reports arrive while a batch is handed over
// that the ring overwrites sequences the replay had not reached. The replay ends there
// and answers next as the oldest: everything after the last report handed over is named
// lost (the network layer lowers it to its first held live report), never missed
// silently, even where the ring still held some of them (the first case).
func TestReplayOverrunByTheRingSaysSo(t *testing.T) {
	const client = 11
	for _, test := range []struct {
		name  string
		added uint64 // Reports added after the first batch.
	}{
		{"into the replayed range", reportReplayBatch * 4},
		{"past it", reportsKeptPerClient + 300},
	} {
		t.Run(test.name, func(t *testing.T) {
			store := NewReportStore()
			keepReports(store, client, 1, reportsKeptPerClient)
			sequences, oldest, next := replayAll(t, store, client, 1, func(batch int) {
				if batch == 0 {
					keepReports(store, client, reportsKeptPerClient+1,
						reportsKeptPerClient+test.added)
				}
			})
			if oldest != reportsKeptPerClient+1 || next != reportsKeptPerClient+1 {
				t.Fatalf("replay: oldest %d, next %d; want both %d", oldest, next,
					reportsKeptPerClient+1)
			}
			if len(sequences) != reportReplayBatch || sequences[len(sequences)-1] != reportReplayBatch {
				t.Fatalf("replay handed over %d reports; want the first batch only, 1..%d",
					len(sequences), reportReplayBatch)
			}
		})
	}
}
