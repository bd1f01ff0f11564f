package shard

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestCloseWaitsForTheSnapshotWriter (fence46): Close returned while the snapshot writer
// it had started was still running, so the writer could write its snapshot after the
// caller had closed the log and moved on. In one process a node that closes and opens
// again (replication.OpenNode) may start over from its primary's snapshot, setting the
// directory's snapshots aside first: the old writer then dropped a snapshot of the old
// history beside the new log (and ran Retire on a closed log). Here the writer is held
// once its op is durable; after Close returns the test sets every snapshot aside as a
// start over does, then lets a writer still running go on. The directory must then hold
// no snapshot: the writer finished before Close returned, and its snapshot was set aside
// with the others.
func TestCloseWaitsForTheSnapshotWriter(t *testing.T) {
	dir := t.TempDir()
	results := make(chan SnapshotResult, 4)
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour, Snapshots: &SnapshotConfig{
		Dir: dir, OnWritten: func(result SnapshotResult) { results <- result }}}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if replies := replier.waitFor(t, 1); replies[0].Status != model.StatusOK {
		t.Fatalf("op 1: %+v", replies[0])
	}
	writing := make(chan struct{})
	closeWaits := make(chan struct{})
	startedOver := make(chan struct{})
	writerHook := func() {
		close(writing)
		select { // Until Close waits for it, or the start over is done.
		case <-closeWaits:
		case <-startedOver:
		}
	}
	closeHook := func() { close(closeWaits) }
	testHookSnapshotWriting.Store(&writerHook)
	testHookCloseWaitsForSnapshots.Store(&closeHook)
	defer func() {
		testHookSnapshotWriting.Store(nil)
		testHookCloseWaitsForSnapshots.Store(nil)
	}()
	s.RequestSnapshot()
	select {
	case <-writing:
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("the snapshot writer never reached its write")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The start over: every snapshot of the old history set aside.
	aside := filepath.Join(dir, "replaced-1")
	if err := os.Mkdir(aside, 0o755); err != nil {
		t.Fatal(err)
	}
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range snapshots {
		if err := os.Rename(info.Path, filepath.Join(aside, filepath.Base(info.Path))); err != nil {
			t.Fatal(err)
		}
	}
	close(startedOver)
	select {
	case result := <-results:
		if result.Err != nil {
			t.Fatalf("snapshot: %v", result.Err)
		}
	case <-time.After(waitMax):
		t.Fatal("the snapshot writer never finished")
	}
	if snapshots, err = wal.ListSnapshots(dir); err != nil {
		t.Fatal(err)
	}
	for _, info := range snapshots {
		t.Errorf("snapshot %s (op %d) of the old history written after Close returned and "+
			"the start over set the old snapshots aside", info.Path, info.Meta.Op)
	}
}
