package shard

import (
	"errors"
	"log/slog"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// TestRecoveryRefusesASnapshotOfAnotherHistoryAtTheRecordedBase (review-base51): a log
// that records its base at op 6 (chain Y) and holds op 7 after it, reopened, beside a
// snapshot at op 6 of another history (chain X): the chain check (OfAnotherHistory)
// asked ChainAt(6), which answered "not found" after the reopen (it did before), so
// recovery restored the other history's state and replayed op 7 on it. The snapshot is
// now refused, and with no other state recovery fails (ErrNoUsableState).
func TestRecoveryRefusesASnapshotOfAnotherHistoryAtTheRecordedBase(t *testing.T) {
	snapshots := t.TempDir()
	machine := core.New(testMachineConfig)
	body := core.AppendRequest(nil, &core.Request{Operation: model.OperationSnapshot})
	output := &core.Output{}
	for op := uint64(1); op <= 6; op++ {
		output.Reset()
		if err := machine.Apply(&core.Entry{FirstOp: op, Timestamp: 1_000_000 + op,
			Body: body}, output); err != nil {
			t.Fatal(err)
		}
	}
	view := machine.Snapshot()
	_, err := wal.WriteSnapshot(snapshots, wal.SnapshotMeta{Op: 6, Timestamp: 1_000_006,
		Digest: view.Digest(), Chain: [32]byte{0xaa}}, view)
	view.Release()
	if err != nil {
		t.Fatal(err)
	}
	options := wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.StartAfter(6, [32]byte{0xbb}); err != nil {
		log.Close()
		t.Fatal(err)
	}
	if err := log.Append(wal.Entry{Epoch: 1, FirstOp: 7, Count: 1, Timestamp: 1_000_007,
		Body: body}); err != nil {
		log.Close()
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if log, err = wal.Open(options); err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	recovered, _, err := Recover(testMachineConfig, log, snapshots,
		slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrNoUsableState) {
		opLast := uint64(0)
		if recovered != nil {
			opLast = recovered.OpLast()
		}
		t.Fatalf("recovered at op %d (error %v) from a snapshot of another history at "+
			"the log's recorded base; want ErrNoUsableState", opLast, err)
	}
}
