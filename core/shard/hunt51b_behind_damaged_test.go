package shard

import (
	"errors"
	"log/slog"
	"os"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// hunt51bLog builds a log of ops 1..lastOp (one snapshot request each, which changes
// nothing but the op) and snapshots the state at each op of snapshotOps into dir.
func hunt51bLog(t *testing.T, dir string, lastOp uint64, snapshotOps ...uint64) *wal.MemoryLog {
	t.Helper()
	log := wal.NewMemoryLog()
	machine := core.New(testMachineConfig)
	body := core.AppendRequest(nil, &core.Request{Operation: model.OperationSnapshot})
	output := &core.Output{}
	for op := uint64(1); op <= lastOp; op++ {
		timestamp := 1_000_000 + op
		if err := log.Append(wal.Entry{FirstOp: op, Count: 1, Timestamp: timestamp,
			Body: body}); err != nil {
			t.Fatal(err)
		}
		output.Reset()
		if err := machine.Apply(&core.Entry{FirstOp: op, Timestamp: timestamp, Body: body},
			output); err != nil {
			t.Fatal(err)
		}
		for _, snapshotOp := range snapshotOps {
			if snapshotOp != op {
				continue
			}
			view := machine.Snapshot()
			meta := wal.SnapshotMeta{Op: op, Timestamp: timestamp, Digest: view.Digest()}
			_, err := wal.WriteSnapshot(dir, meta, view)
			view.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return log
}

// hunt51bDamageHeader flips a byte of a snapshot's header: the listing then reports the
// file damaged (Err set), with its op from its name.
func hunt51bDamageHeader(t *testing.T, path string) {
	t.Helper()
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteAt([]byte{0xFF}, 30); err != nil { // Inside the op field.
		t.Fatal(err)
	}
}

// hunt51bTruncatedLog is the log that lost its tail: the first lastOp ops of full.
func hunt51bTruncatedLog(t *testing.T, full *wal.MemoryLog, lastOp uint64) *wal.MemoryLog {
	t.Helper()
	cut := wal.NewMemoryLog()
	if err := full.Read(0, func(e *wal.Entry) error {
		if e.LastOp() > lastOp {
			return nil
		}
		return cut.Append(*e)
	}); err != nil {
		t.Fatal(err)
	}
	return cut
}

// TestRecoveryRefusesALogBehindASnapshotUnderADamagedNewerOne (hunt51b): a snapshot
// file gets its name only once its op is durable, so a log that ends before a snapshot
// lost its tail, and recovery refuses to start rather than drop acknowledged writes
// (ErrLogBehindSnapshot). The check looked at the newest snapshot only when its header
// read back valid: with a damaged newest snapshot, a valid older one past the log's end
// was skipped as "does not meet the log", and the node started from the empty state at
// the log's end, silently without the ops both snapshots prove were durable.
func TestRecoveryRefusesALogBehindASnapshotUnderADamagedNewerOne(t *testing.T) {
	dir := t.TempDir()
	full := hunt51bLog(t, dir, 6, 4, 6)
	hunt51bDamageHeader(t, dir+"/snapshot-00000000000000000006.snap")
	cut := hunt51bTruncatedLog(t, full, 2)
	machine, _, err := Recover(testMachineConfig, cut, dir, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrLogBehindSnapshot) {
		opLast := uint64(0)
		if machine != nil {
			opLast = machine.OpLast()
		}
		t.Fatalf("log ending at op 2 under a valid snapshot at op 4 (and a damaged one at "+
			"op 6): recovered at op %d, error %v; want ErrLogBehindSnapshot", opLast, err)
	}
}

// TestRecoveryRefusesALogBehindADamagedNewestSnapshot (hunt51b): the same with the only
// snapshot past the log's end damaged and an older valid one that meets the log: the
// damaged file's name still proves its op was durable.
func TestRecoveryRefusesALogBehindADamagedNewestSnapshot(t *testing.T) {
	dir := t.TempDir()
	full := hunt51bLog(t, dir, 6, 2, 6)
	hunt51bDamageHeader(t, dir+"/snapshot-00000000000000000006.snap")
	cut := hunt51bTruncatedLog(t, full, 4)
	machine, _, err := Recover(testMachineConfig, cut, dir, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrLogBehindSnapshot) {
		opLast := uint64(0)
		if machine != nil {
			opLast = machine.OpLast()
		}
		t.Fatalf("log ending at op 4 under a damaged snapshot at op 6: recovered at op %d, "+
			"error %v; want ErrLogBehindSnapshot", opLast, err)
	}
}

// TestRecoveryFallsBackPastADamagedSnapshotTheLogCovers (hunt51b): the refusal is for a
// log behind a snapshot only; a damaged newest snapshot the log covers still falls back
// to an older one and replays to the log's end.
func TestRecoveryFallsBackPastADamagedSnapshotTheLogCovers(t *testing.T) {
	dir := t.TempDir()
	log := hunt51bLog(t, dir, 6, 2, 4)
	hunt51bDamageHeader(t, dir+"/snapshot-00000000000000000004.snap")
	machine, report, err := Recover(testMachineConfig, log, dir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if machine.OpLast() != 6 || report.SnapshotOp != 2 || len(report.SkippedSnapshots) != 1 {
		t.Fatalf("recovered at op %d from snapshot op %d, skipped %v; want op 6 from op 2, "+
			"one skipped", machine.OpLast(), report.SnapshotOp, report.SkippedSnapshots)
	}
}
