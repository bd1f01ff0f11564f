package shard

import (
	"errors"
	"log/slog"
	"testing"

	"sequent/wal"
)

// base51Log opens a wal in a new directory whose log is only a base at op (StartAfter
// with chain), closes it and opens it again, as a node restarted before its first entry.
func base51Log(t *testing.T, op uint64, chain [32]byte) *wal.Log {
	t.Helper()
	dir := t.TempDir()
	options := wal.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.StartAfter(op, chain); err != nil {
		log.Close()
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if log, err = wal.Open(options); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return log
}

// TestRecoveryStartsFromALogThatIsOnlyABase (base51): a log that starts after a
// snapshot at op N and holds no entry yet (a start over, then a restart before any
// entry) recovers to that snapshot's state at op N; it used to reopen empty and be
// refused as a log that lost its tail (ErrLogBehindSnapshot).
func TestRecoveryStartsFromALogThatIsOnlyABase(t *testing.T) {
	snapshots := t.TempDir()
	hunt51bLog(t, snapshots, 6, 6)
	log := base51Log(t, 6, [32]byte{})
	machine, report, err := Recover(testMachineConfig, log, snapshots,
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if machine.OpLast() != 6 || report.SnapshotOp != 6 || report.ReplayedEntries != 0 {
		t.Fatalf("recovered at op %d from the snapshot at op %d, %d entries replayed; "+
			"want op 6 from the snapshot, nothing replayed", machine.OpLast(),
			report.SnapshotOp, report.ReplayedEntries)
	}
}

// TestRecoveryRefusesABaseWithoutItsSnapshot (base51): a log that is only a base at op N
// holds no state of its own; without a snapshot at op N (none, or only an older one,
// which the log does not continue) it is ErrNoUsableState, never an empty machine or an
// older state.
func TestRecoveryRefusesABaseWithoutItsSnapshot(t *testing.T) {
	for _, snapshotOps := range [][]uint64{nil, {4}} {
		snapshots := t.TempDir()
		hunt51bLog(t, snapshots, 6, snapshotOps...)
		log := base51Log(t, 6, [32]byte{})
		machine, _, err := Recover(testMachineConfig, log, snapshots,
			slog.New(slog.DiscardHandler), nil)
		if !errors.Is(err, ErrNoUsableState) {
			opLast := uint64(0)
			if machine != nil {
				opLast = machine.OpLast()
			}
			t.Fatalf("a base at op 6 with snapshots at %v: recovered at op %d, error %v; "+
				"want ErrNoUsableState", snapshotOps, opLast, err)
		}
	}
}

// TestRecoveryStillRefusesAnEmptyLogUnderASnapshot (base51): a log that holds no entry
// and records no base (it lost every entry) beside a snapshot is still refused.
func TestRecoveryStillRefusesAnEmptyLogUnderASnapshot(t *testing.T) {
	snapshots := t.TempDir()
	hunt51bLog(t, snapshots, 6, 6)
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, _, err := Recover(testMachineConfig, log, snapshots, slog.New(slog.DiscardHandler),
		nil); !errors.Is(err, ErrLogBehindSnapshot) {
		t.Fatalf("an empty log under a snapshot at op 6: %v", err)
	}
}
