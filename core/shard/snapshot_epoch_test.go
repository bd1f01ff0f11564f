package shard

import (
	"errors"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

var errStopRead = errors.New("found")

// TestStandbySnapshotNamesTheEntrysEpoch: a snapshot's Meta.Epoch is documented (wal) as
// "epoch of the entry holding op", and capture publishes it as a capture_gap's epoch
// (resumeFrom), which the next primary checks against its log like an event's. A standby
// starts at the epoch of the primary it aligned with (replication.New: max of its stored
// epoch and the primary's), which is newer than the entries it catches up on when the
// primary's log holds an older epoch's history. Its snapshot at such an entry must still
// name that entry's epoch, or the gap it leads to names an entry no log holds and a node
// holding the real entry voids a history that stands.
func TestStandbySnapshotNamesTheEntrysEpoch(t *testing.T) {
	primaryLog, standbyLog, shipped := replicatedLogs(t)
	dir := t.TempDir()
	// The primary writes the entries of epoch 1 (the history an epoch-2 primary would
	// ship to a standby catching up).
	primary, primaryReplies := startShard(t, Config{Epoch: 1,
		Snapshots: &SnapshotConfig{Dir: dir + "/primary"}}, primaryLog)
	written := make(chan SnapshotResult, 4)
	standby, _ := startShard(t, Config{Epoch: 2, Role: RoleStandby,
		Snapshots: &SnapshotConfig{Dir: dir + "/standby",
			OnWritten: func(r SnapshotResult) { written <- r }}}, standbyLog)
	go follow(standby, shipped)
	defer func() {
		primary.Close() // Nothing more is shipped: then follow can end.
		close(shipped)
	}()
	operatorGrants(t, primary, 7)
	primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	primaryReplies.waitFor(t, 1)
	primary.RequestSnapshot()
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatalf("standby snapshot: %v", result.Err)
		}
		var entryEpoch uint64
		if err := standbyLog.Read(result.Meta.Op-1, func(e *wal.Entry) error {
			entryEpoch = e.Epoch
			return errStopRead
		}); err != nil && !errors.Is(err, errStopRead) {
			t.Fatal(err)
		}
		if entryEpoch != 1 || result.Meta.Epoch != entryEpoch {
			t.Fatalf("snapshot at op %d names epoch %d; the entry holding it has epoch %d",
				result.Meta.Op, result.Meta.Epoch, entryEpoch)
		}
	case <-time.After(waitMax):
		t.Fatalf("no standby snapshot within %v", waitMax)
	}
}
