package replication

import (
	"testing"

	"sequent/wal"
)

// TestRestartedBasePrimaryStreamsAStandbyAtItsBase (review-base51): a node that started
// over from a snapshot at op 100 (its log records the base), was promoted and wrote op
// 101, then restarted, no longer knew its base's chain (wal ChainAt(100) answered "not
// found" after the reopen, though it did before): a standby at exactly op 100 of the
// same history (the other started-over standby) got a start over from the snapshot, or
// ErrDiverged without one, instead of the stream after op 100 it got before the restart.
func TestRestartedBasePrimaryStreamsAStandbyAtItsBase(t *testing.T) {
	dir := t.TempDir()
	options := wal.Options{Dir: dir, Logger: testLogger}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	chain := [32]byte{9, 8, 7}
	if err := log.StartAfter(100, chain); err != nil {
		log.Close()
		t.Fatal(err)
	}
	if err := log.Append(wal.Entry{Epoch: 2, FirstOp: 101, Count: 1, Timestamp: 1,
		Body: []byte("x")}); err != nil {
		log.Close()
		t.Fatal(err)
	}
	if err := log.Close(); err != nil { // Close writes and syncs what was appended.
		t.Fatal(err)
	}
	if log, err = wal.Open(options); err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if log.LastOp() != 101 {
		t.Fatalf("reopened at op %d, want 101", log.LastOp())
	}
	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t),
		SnapshotDir: t.TempDir()}}
	w, err := p.plan(&hello{lastOp: 100, points: []wal.ChainPoint{{LastOp: 100, Chain: chain}}})
	if err != nil || w.plan != planStream || w.op != 100 {
		t.Fatalf("plan for a standby at the primary's base: %+v, %v; want a stream after "+
			"op 100", w, err)
	}
}
