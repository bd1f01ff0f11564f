package e2e

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// review-hunt53c: TestHunt53cKillAndTearTheLastWrite says its SIGKILLs land under load,
// where an entry is written but not yet answered (the only kind it may tear). Its
// workers sent 50 batches each and stopped: on an idle machine they were done within
// the cycle's 20-520 ms, so most kills hit an idle server whose newest entry was
// acknowledged (a run here: 9 of 10 kills, 1 entry torn). loadRunning records, at each
// kill, whether the load was still running; the test fails on a kill after the load
// ended.

// loadWatch reports when every worker of one run of a load has returned.
type loadWatch struct{ finished chan struct{} }

// watchLoad starts watching the workers that l.run just started. Call done after the
// workers were waited for (halt or wait), before the load's next run.
func watchLoad(l *load) *loadWatch {
	w := &loadWatch{finished: make(chan struct{})}
	go func() { l.wait(); close(w.finished) }()
	return w
}

// running reports whether a worker of the run is still sending.
func (w *loadWatch) running() bool {
	select {
	case <-w.finished:
		return false
	default:
		return true
	}
}

// done waits for the watcher (the load's WaitGroup must not be reused before every Wait
// on it returned).
func (w *loadWatch) done() { <-w.finished }

// TestReview53cEntryTransferIDsKeepsTheServersSegmentSize: entryTransferIDs opens the
// stopped server's log with wal.Open to read the entry it may tear. With no next segment
// prepared (a kill just after the log moved to a new segment, before the preparer made
// the next), wal.Open prepares one of its own default size, 64 MiB: the restarted server
// then writes into it, so the rest of TestHunt53cKillAndTearTheLastWrite never reaches a
// segment's end and its snapshots retire no segment (seen in 2 runs of 3 here), and each
// such run puts 64 MiB on the machine's disk. The log the test leaves must keep the
// server's --wal-segment-bytes.
func TestReview53cEntryTransferIDsKeepsTheServersSegmentSize(t *testing.T) {
	dir := t.TempDir()
	log, err := wal.Open(wal.Options{Dir: dir, SegmentBytes: tornSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	events := make([]byte, model.TransferSize)
	moved := transfer(77, 1, 2, 3)
	moved.Encode(events)
	body := core.AppendRequest(nil, &core.Request{Operation: model.OperationCreateTransfers,
		Client: 1, Session: 1, Number: 1, Body: events})
	if err := log.Append(wal.Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1, Body: body}); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	segments, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segments)
	for _, prepared := range segments[1:] { // A kill before the next segment was prepared.
		if err := os.Remove(prepared); err != nil {
			t.Fatal(err)
		}
	}
	ids, only := entryTransferIDs(t, dir, 1)
	if len(ids) != 1 || ids[0] != 77 || !only {
		t.Fatalf("entry 1 read as %v, only transfers %v", ids, only)
	}
	segments, _ = filepath.Glob(filepath.Join(dir, "*.wal"))
	for _, segment := range segments {
		info, err := os.Stat(segment)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() != tornSegmentBytes {
			t.Fatalf("%s is %d bytes after entryTransferIDs, not the server's %d",
				filepath.Base(segment), info.Size(), tornSegmentBytes)
		}
	}
}

// TestReview53cFirstSnapshotWaitIgnoresATemporary: TestHunt53cSnapshotOnAFullDisk...
// waited for "a first snapshot" as any file in the snapshot directory, so a snapshot's
// temporary still being written ended the wait; the test then filled the disk under that
// writer. On a loaded machine the first snapshot failed instead, and the snapshot_failed
// it reported ended the next wait while the second snapshot's temporary could still be
// there: a failure of the test, not of the server. Only a complete snapshot counts.
func TestReview53cFirstSnapshotWaitIgnoresATemporary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "snapshot-00000000000000000042.snap.tmp"),
		[]byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if snapshotWritten(t, dir) {
		t.Fatal("a snapshot's temporary counted as a written snapshot")
	}
	if err := os.Rename(filepath.Join(dir, "snapshot-00000000000000000042.snap.tmp"),
		filepath.Join(dir, "snapshot-00000000000000000042.snap")); err != nil {
		t.Fatal(err)
	}
	if !snapshotWritten(t, dir) {
		t.Fatal("a complete snapshot did not count")
	}
}

// TestReview53cSnapshotProblemClearedNeedsAnAnswer: the snapshot ENOSPC test's last wait,
// "a snapshot to succeed and snapshot_failed to clear", took a /healthz that did not
// answer (get's empty probe says nothing) for a cleared problem, so it passed without
// the server having said anything. An address where nothing listens must not count.
func TestReview53cSnapshotProblemClearedNeedsAnAnswer(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // Nothing listens there now: the request is refused.
	if snapshotProblemCleared(t, "http://"+address) {
		t.Fatal("a /healthz that did not answer counted as snapshot_failed cleared")
	}
}
