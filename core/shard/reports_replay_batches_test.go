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
// Reports added while a batch is handed over must go in, and the later batches include
// them.
func TestReplayLetsReportsBeAddedBetweenBatches(t *testing.T) {
	const client = 9
	store := NewReportStore()
	keepReports(store, client, 1, 600)
	sequences, oldest, next := replayAll(t, store, client, 1, func(batch int) {
		if batch == 0 {
			keepReports(store, client, 601, 700)
		}
	})
	if oldest != 1 || next != 701 || len(sequences) != 700 {
		t.Fatalf("replay: oldest %d, next %d, %d reports; want 1, 701, 700", oldest, next,
			len(sequences))
	}
	for i, sequence := range sequences {
		if sequence != uint64(i+1) {
			t.Fatalf("report %d handed over as the %dth", sequence, i+1)
		}
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
	if oldest != 1 || next != reportsKeptPerClient+101 ||
		len(sequences) != reportsKeptPerClient+100 {
		t.Fatalf("replay: oldest %d, next %d, %d reports; want 1, %d, %d", oldest, next,
			len(sequences), reportsKeptPerClient+101, reportsKeptPerClient+100)
	}
}

// TestReplayOverrunByTheRingSaysSo: so many reports arrive while the first batch is
// handed over that the ring overwrites sequences the replay had not reached. The replay
// goes on from the oldest still held, and says that one is the oldest, so the client is
// told of a loss instead of missing reports silently.
func TestReplayOverrunByTheRingSaysSo(t *testing.T) {
	const client = 11
	store := NewReportStore()
	keepReports(store, client, 1, reportsKeptPerClient)
	const added = reportsKeptPerClient + 300
	sequences, oldest, next := replayAll(t, store, client, 1, func(batch int) {
		if batch == 0 {
			keepReports(store, client, reportsKeptPerClient+1, reportsKeptPerClient+added)
		}
	})
	held := uint64(2*reportsKeptPerClient + 300 - reportsKeptPerClient + 1)
	if oldest != held || next != 2*reportsKeptPerClient+301 {
		t.Fatalf("replay: oldest %d, next %d; want %d, %d", oldest, next, held,
			2*reportsKeptPerClient+301)
	}
	// The first batch, then everything still held, in order.
	want := make([]uint64, 0, reportReplayBatch+reportsKeptPerClient)
	for sequence := uint64(1); sequence <= reportReplayBatch; sequence++ {
		want = append(want, sequence)
	}
	for sequence := held; sequence < next; sequence++ {
		want = append(want, sequence)
	}
	if len(sequences) != len(want) {
		t.Fatalf("replay handed over %d reports; want %d", len(sequences), len(want))
	}
	for i := range want {
		if sequences[i] != want[i] {
			t.Fatalf("report %d of the replay is %d; want %d", i, sequences[i], want[i])
		}
	}
}
