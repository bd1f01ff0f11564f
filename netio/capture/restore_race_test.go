package capture

import (
	"testing"

	"sequent/wal"
)

// TestRestoreOnANewLogWhoseFirstEntryIsNotWrittenYet: capture restores while the shard's
// first entry of a new log is appended but not yet written (AppendDeferred leaves it to
// the appender's WriteDeferred; with Append it is the writer's ordinary lag). The log
// holds no entry yet (FirstOp 0) though LastOp is already 1: restore must start from an
// empty machine, not take the log for one starting at op 2 ("no snapshot is usable",
// a failed session and a reconnect delay).
func TestRestoreOnANewLogWhoseFirstEntryIsNotWrittenYet(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.log.AppendDeferred(wal.Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1,
		Body: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	defer r.log.WriteDeferred()
	if first, last := r.log.FirstOp(), r.log.LastOp(); first != 0 || last != 1 {
		t.Fatalf("the deferred entry: FirstOp %d, LastOp %d; want it appended, not written", first, last)
	}
	c := New(Config{Log: r.log, Machine: testMachine})
	machine, err := c.restore()
	if err != nil {
		t.Fatalf("restore with op 1 appended, not written: %v", err)
	}
	if machine.OpLast() != 0 {
		t.Fatalf("restored at op %d, want an empty machine", machine.OpLast())
	}
}

// TestRestoreOntoAnEmptyLogWhoseBaseIsOpOne: the boundary of the empty log's base. A
// node bootstrapped from a snapshot at op 1 (its log holds no entry, continuing after op
// 1) restores that snapshot for a stream whose last event is at op 1: its log does not
// start at op 1, so an empty machine (which would replay from op 1) is wrong.
func TestRestoreOntoAnEmptyLogWhoseBaseIsOpOne(t *testing.T) {
	dir := t.TempDir()
	old := openReplica(t, dir+"/old")
	old.serve("", 1) // Op 1: the grants.
	promoted := retiredReplica(t, dir+"/promoted", old, 1)
	if first, last := promoted.log.FirstOp(), promoted.log.LastOp(); first != 0 || last != 1 {
		t.Fatalf("the promoted log: FirstOp %d, LastOp %d; want empty after op 1", first, last)
	}
	c := New(Config{Log: promoted.log, SnapshotDir: promoted.snapshotDir, Machine: testMachine})
	c.at = position{op: 1}
	machine, err := c.restore()
	if err != nil {
		t.Fatal(err)
	}
	if machine.OpLast() != 1 {
		t.Fatalf("restored at op %d, want the snapshot at op 1", machine.OpLast())
	}
}
