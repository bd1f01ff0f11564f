package replication

import (
	"errors"
	"strings"
	"testing"

	"sequent/wal"
)

// TestPlanOfABaseOnlyLogSeesAnEntryAppendedWhilePlanning (leftovers52): plan reads the
// log's durable op before its first op. A primary whose log is only a base (op 100, as
// after a start over) and which makes op 101 durable between the two reads must still
// stream a standby at op 100 from there. Read the other way round, the first op reads 0
// (no entry yet) and the durable op 101: the log would seem to start at op 102, and the
// standby would be told that nothing bridges its gap.
func TestPlanOfABaseOnlyLogSeesAnEntryAppendedWhilePlanning(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	chain := [32]byte{5, 2}
	if err := log.StartAfter(100, chain); err != nil {
		t.Fatal(err)
	}
	if log.Durable() != 100 || log.FirstOp() != 0 {
		t.Fatalf("setup: a base-only log at durable op %d, first op %d; want 100 and 0",
			log.Durable(), log.FirstOp())
	}
	appended := 0
	hook := func() {
		appended++
		if err := log.Append(wal.Entry{Epoch: 2, FirstOp: 101, Count: 1, Timestamp: 1,
			Body: []byte("x")}); err != nil {
			t.Error(err)
			return
		}
		waitFor(t, "op 101 durable", func() bool { return log.Durable() >= 101 })
	}
	testHookPlanBetweenReads.Store(&hook)
	defer testHookPlanBetweenReads.Store(nil)

	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t),
		SnapshotDir: t.TempDir()}}
	w, err := p.plan(&hello{lastOp: 100, points: []wal.ChainPoint{{LastOp: 100, Chain: chain}}})
	if appended != 1 {
		t.Fatalf("setup: the append between plan's reads ran %d times, want once", appended)
	}
	if err != nil || w.plan != planStream || w.op != 100 {
		t.Fatalf("plan for a standby at the base while op 101 became durable: %+v, %v; "+
			"want a stream after op 100", w, err)
	}
}

// TestPlanRefusalSaysWhatABaseOnlyLogHolds (leftovers52): a primary whose log is only a
// base (op 100, no entry) refused a standby it shares nothing with by saying its log held
// "ops 0..100", ops it never held. It must name the base and that there is no entry.
func TestPlanRefusalSaysWhatABaseOnlyLogHolds(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.StartAfter(100, [32]byte{5, 2}); err != nil {
		t.Fatal(err)
	}
	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t),
		SnapshotDir: t.TempDir()}}
	_, err = p.plan(&hello{lastOp: 50, points: []wal.ChainPoint{{LastOp: 50, Chain: [32]byte{7}}}})
	want := "standby at op 50 shares no entry with this log (no entry, its base at op 100)"
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), want) {
		t.Fatalf("plan for a standby below a base-only log: %v; want ErrDiverged saying %q",
			err, want)
	}
}
