package shard

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestNoSnapshotPastTheDurableLogAfterAFailure (hunt45b): a snapshot must never run
// ahead of the log (writeSnapshot waits for its op to be durable), because recovery takes
// a newest snapshot past the log's end for a lost tail and refuses to start
// (ErrLogBehindSnapshot). The wait also ended when the log failed, and the snapshot was
// then written anyway, holding ops the log never made durable (their clients were told
// outcome_unknown). The restart the README prescribes after a failed log ("fix the cause,
// then restart") then found the log's durable prefix behind that snapshot and refused to
// start. Here op 1 is durable, the snapshot request is op 2, and the log fails before op
// 2 is durable: no snapshot may be written, and the durable prefix must recover.
func TestNoSnapshotPastTheDurableLogAfterAFailure(t *testing.T) {
	dir := t.TempDir()
	results := make(chan SnapshotResult, 4)
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax, Snapshots: &SnapshotConfig{Dir: dir,
			OnWritten: func(result SnapshotResult) { results <- result }}}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if replies := replier.waitFor(t, 1); replies[0].Status != model.StatusOK {
		t.Fatalf("op 1: %+v", replies[0])
	}
	log.Hold()
	s.RequestSnapshot()
	waitUntil(t, "the snapshot request to be appended", func() bool { return log.LastOp() == 2 })
	log.Fail(errors.New("fdatasync failed"))
	select {
	case <-results:
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("the snapshot writer never finished")
	}
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range snapshots {
		if info.Meta.Op > log.Durable() {
			t.Errorf("snapshot %s at op %d written past the durable log (op %d) after it failed",
				info.Path, info.Meta.Op, log.Durable())
		}
	}
	// The restart: what the log holds is its durable prefix.
	restarted := wal.NewMemoryLog()
	if err := log.Read(0, func(e *wal.Entry) error {
		if e.LastOp() > log.Durable() {
			return nil
		}
		return restarted.Append(*e)
	}); err != nil {
		t.Fatal(err)
	}
	machine, _, err := Recover(testMachineConfig, restarted, dir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("restart from the durable log (op %d) refused: %v", restarted.LastOp(), err)
	}
	if machine.OpLast() != 1 {
		t.Fatalf("recovered at op %d, want 1", machine.OpLast())
	}
}
