package capture

import (
	"errors"
	"testing"

	"sequent/core/shard"
	"sequent/wal"
)

// TestRestoreSkipsASnapshotOfAnotherHistory (review, session 42): a node killed while
// starting over from its primary's snapshot can hold that snapshot beside its own
// divergent log (shard recovery skips it: its chain hash differs from the log's at its
// op). Promoted, the node's change capture rebuilt from the newest snapshot at or before
// the stream's position by op number alone: it restored the other history's state and
// replayed its own log over it, publishing events of neither history (here account 3's
// creation is refused over the other history, where account 3 exists). Capture must skip
// that snapshot as recovery does and rebuild the node's own state.
func TestRestoreSkipsASnapshotOfAnotherHistory(t *testing.T) {
	dir := t.TempDir()
	// Another history: op 2 creates accounts 3 and 9.
	other := openReplica(t, dir+"/other")
	other.serve("", 1, []uint64{3, 9})
	// The node's own history: ops 2, 3 and 4 create accounts 1-2, 3-4 and 5-6.
	node := openReplica(t, dir+"/node")
	node.snapshotDir = dir + "/snapshots"
	node.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6})
	other.snapshotThrough(node.snapshotDir, 2) // The leftover, at an op the log holds.
	ownChain, _ := node.log.ChainAt(2)
	otherChain, _ := other.log.ChainAt(2)
	if ownChain == otherChain {
		t.Fatal("the two histories share their chain at op 2")
	}

	c := New(Config{Log: node.log, SnapshotDir: node.snapshotDir, Machine: testMachine})
	c.at = position{op: 3} // The stream holds events through op 3.
	machine, err := c.restore()
	if err != nil {
		t.Fatal(err)
	}
	// The state capture rebuilds from must be the node's own at that op.
	own, _, err := shard.Recover(testMachine, &logThrough{node.log, machine.OpLast()}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if machine.Digest() != own.Digest() {
		t.Fatalf("capture restored a state at op %d that is not the node's own (the other "+
			"history's snapshot)", machine.OpLast())
	}
}

// logThrough is a log read only through op through (shard.LogReader).
type logThrough struct {
	log     *wal.Log
	through uint64
}

var errThrough = errors.New("through")

func (l *logThrough) Read(afterOp uint64, fn func(e *wal.Entry) error) error {
	err := l.log.Read(afterOp, func(e *wal.Entry) error {
		if e.FirstOp > l.through {
			return errThrough
		}
		return fn(e)
	})
	if errors.Is(err, errThrough) {
		return nil
	}
	return err
}

func (l *logThrough) FirstOp() uint64 { return l.log.FirstOp() }
func (l *logThrough) LastOp() uint64  { return min(l.log.LastOp(), l.through) }
