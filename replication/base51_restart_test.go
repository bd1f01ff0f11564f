package replication

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// startedOverStandby starts a primary whose log is retired up to a snapshot at its last
// op, and a standby in dir (an empty log) that starts over from that snapshot; nothing
// is written after it. It returns the primary (open), the standby (open, its log only a
// base at the snapshot's op), and the standby's state digest.
func startedOverStandby(t *testing.T, dir string) (old, standby *testNode, digest [32]byte) {
	t.Helper()
	oldConfig := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	written := reportSnapshots(&oldConfig)
	old = startNode(t, oldConfig)
	writeSegmentsOfHistory(t, old)
	snapshotNow(t, old, written)
	if old.Log().FirstOp() <= 1 {
		old.Close()
		t.Fatalf("setup: the primary's log was not retired (first op %d)", old.Log().FirstOp())
	}
	standby = startNode(t, nodeConfig(dir, freeAddress(t), oldConfig.Listen))
	waitFor(t, "the standby to start over", func() bool {
		return standby.Log().LastOp() >= old.Log().LastOp()
	})
	if standby.Log().FirstOp() != 0 || standby.Log().LastOp() != old.Log().LastOp() {
		old.Close()
		standby.Close()
		t.Fatalf("setup: want a log that is only a base (first op %d, last op %d)",
			standby.Log().FirstOp(), standby.Log().LastOp())
	}
	return old, standby, standby.Node.shardDigest(t)
}

// TestPromotedBaseOnlyNodeRestarts (base51): a node that started over from its primary's
// snapshot at op N, was promoted and stopped before it wrote any entry could not start
// again: its log had kept the base (StartAfter) in memory only, so it reopened empty, and
// recovery refused it as a log that lost its tail (shard.ErrLogBehindSnapshot: the
// snapshot at op N, the log at op 0). The base is now recorded on disk, so the node
// restarts at op N with its state, writes after it, and restarts again with that write.
func TestPromotedBaseOnlyNodeRestarts(t *testing.T) {
	dir := t.TempDir()
	old, promoted, want := startedOverStandby(t, dir)
	lastOp := promoted.Log().LastOp()
	old.Close()
	if _, err := promoted.Promote(); err != nil {
		promoted.Close()
		t.Fatal(err)
	}
	promoted.Close()

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	config := nodeConfig(dir, freeAddress(t), "")
	config.Mode = ModeAsync // Alone: a sync primary would wait for a standby's ack.
	node, err := OpenNode(ctx, config)
	if err != nil {
		if errors.Is(err, shard.ErrLogBehindSnapshot) {
			t.Fatalf("the promoted node's log lost its base at the restart: %v", err)
		}
		t.Fatal(err)
	}
	restarted := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(restarted.replies)})
	if got := restarted.Log().LastOp(); got != lastOp {
		restarted.Close()
		t.Fatalf("the restarted node's log ends at op %d, want the base %d", got, lastOp)
	}
	if restarted.Node.shardDigest(t) != want {
		restarted.Close()
		t.Fatal("the restarted node's state is not the one it started over to")
	}
	restarted.submit(t, 7000, 100, model.OperationCreateTransfers, transfer(7, 1, 2, 3))
	if reply, _ := restarted.replies.wait(t, 7000); reply.Status != model.StatusOK {
		restarted.Close()
		t.Fatalf("a write after the restart: %s", reply.Status)
	}
	want, lastOp = restarted.Node.shardDigest(t), restarted.Log().LastOp()
	restarted.Close()

	again := startNode(t, nodeConfig(dir, freeAddress(t), ""))
	defer again.Close()
	if again.Log().LastOp() != lastOp || again.Node.shardDigest(t) != want {
		t.Fatalf("after a write on the base: restarted at op %d, want %d with the same state",
			again.Log().LastOp(), lastOp)
	}
}

// TestStartedOverStandbyRestartsAloneAndCatchesUp (base51): a standby that started over
// and was stopped before it received any entry reopened an empty log, so it waited for
// its primary with no time limit (an empty log holds none of the acknowledged writes)
// and could not be promoted while the primary was down, although its snapshot holds
// everything up to the base. With the base on disk it starts unaligned after
// PrimaryWaitAtStart like any standby with a log of its own; restarted again with its
// primary up, it streams after the base and catches up.
func TestStartedOverStandbyRestartsAloneAndCatchesUp(t *testing.T) {
	dir := t.TempDir()
	old, standby, want := startedOverStandby(t, dir)
	defer old.Close()
	lastOp := standby.Log().LastOp()
	standby.Close()

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	config := nodeConfig(dir, freeAddress(t), freeAddress(t)) // A primary that is down.
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatalf("the started-over standby did not start with its primary down: %v", err)
	}
	alone := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(alone.replies)})
	if alone.Log().LastOp() != lastOp || alone.Node.shardDigest(t) != want {
		alone.Close()
		t.Fatalf("started alone at op %d, want the base %d with its state",
			alone.Log().LastOp(), lastOp)
	}
	alone.Close()

	rejoined := startNode(t, nodeConfig(dir, freeAddress(t), old.config.Listen))
	defer rejoined.Close()
	old.submit(t, 7000, 100, model.OperationCreateTransfers, transfer(7, 1, 2, 3))
	if reply, _ := old.replies.wait(t, 7000); reply.Status != model.StatusOK {
		t.Fatalf("a write on the primary: %s", reply.Status)
	}
	waitCaughtUp(t, rejoined, old)
}

// TestStartOverCutShortBeforeItsBaseStillStarts (base51): a crash after the received
// snapshot is renamed into place and before the new log records its base leaves an
// empty log beside that one snapshot. Restarted as a standby with its primary up, the
// node starts (the hello names the snapshot, the primary streams after it) and the log
// then records its base, so that once promoted it restarts alone at the snapshot's op.
func TestStartOverCutShortBeforeItsBaseStillStarts(t *testing.T) {
	dir := t.TempDir()
	old, standby, want := startedOverStandby(t, dir)
	lastOp := standby.Log().LastOp()
	logDir := standby.config.Groups[0].LogDir
	standby.Close()
	// The crash: the new log as it was before StartAfter (an empty log, no base).
	if err := os.RemoveAll(logDir); err != nil {
		old.Close()
		t.Fatal(err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		old.Close()
		t.Fatal(err)
	}
	empty, err := wal.Open(wal.Options{Dir: logDir, Logger: testLogger})
	if err != nil {
		old.Close()
		t.Fatal(err)
	}
	empty.Close()

	resumed := startNode(t, nodeConfig(dir, freeAddress(t), old.config.Listen))
	if resumed.Log().LastOp() != lastOp || resumed.Node.shardDigest(t) != want {
		resumed.Close()
		old.Close()
		t.Fatalf("resumed at op %d, want the snapshot's %d with its state",
			resumed.Log().LastOp(), lastOp)
	}
	old.Close()
	if _, err := resumed.Promote(); err != nil {
		resumed.Close()
		t.Fatal(err)
	}
	resumed.Close()

	again := startNode(t, nodeConfig(dir, freeAddress(t), ""))
	defer again.Close()
	if again.Log().LastOp() != lastOp || again.Node.shardDigest(t) != want {
		t.Fatalf("the promoted node restarted at op %d, want %d with its state",
			again.Log().LastOp(), lastOp)
	}
}
