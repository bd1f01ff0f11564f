package replication

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestSnapshotWhoseCheckFailsWithoutDamageIsOfferedAgain (leftovers52): the primary
// marked a snapshot damaged whenever the second open of its header failed, also for
// reasons that are not damage (out of file handles here), and offered it no more: a
// standby whose gap only that snapshot bridges was told "no snapshot bridges the gap"
// until a new one was taken. Such a failure must only fail that send: the snapshot stays
// offered, and the next standby starts over from it.
func TestSnapshotWhoseCheckFailsWithoutDamageIsOfferedAgain(t *testing.T) {
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	written := reportSnapshots(&config)
	primary := startNode(t, config)
	defer primary.Close()
	writeSegmentsOfHistory(t, primary)
	snapshot := snapshotNow(t, primary, written)
	primary.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	if primary.Log().FirstOp() <= 1 || primary.Log().FirstOp() > snapshot.Meta.Op+1 {
		t.Fatalf("setup: the log (first op %d) is not retired up to the snapshot at op %d",
			primary.Log().FirstOp(), snapshot.Meta.Op)
	}
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 1 || snapshots[0].Meta.Op != snapshot.Meta.Op {
		t.Fatalf("setup: snapshots %+v (%v)", snapshots, err)
	}
	path := snapshots[0].Path

	// The first check of the snapshot's header runs out of file handles; later ones read.
	var checks atomic.Int64
	hook := func(checked string) error {
		if checks.Add(1) == 1 {
			return &os.PathError{Op: "open", Path: checked, Err: syscall.EMFILE}
		}
		return nil
	}
	testHookSnapshotFileCheck.Store(&hook)
	t.Cleanup(func() { testHookSnapshotFileCheck.Store(nil) })

	want := primary.Node.shardDigest(t)
	startStandby := func(dir string) (*testNode, error) {
		ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
		defer cancel()
		node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", primary.config.Listen), 1))
		if err != nil {
			return nil, err
		}
		standby := &testNode{Node: node, replies: newCollector()}
		node.Start([]shard.Outputs{shard.RepliesOnly(standby.replies)})
		return standby, nil
	}
	checkStandby := func(standby *testNode) {
		t.Helper()
		if got := standby.Recovery().SnapshotOp; got != snapshot.Meta.Op {
			t.Fatalf("the standby started from the snapshot at op %d, want op %d", got,
				snapshot.Meta.Op)
		}
		waitFor(t, "the standby catching up", func() bool {
			return standby.Log().Durable() >= primary.Log().LastOp()
		})
		if standby.shardDigest(t) != want {
			t.Fatal("the standby's state is not the primary's")
		}
	}

	// A first standby: the send whose check fails may fail (its start may then fail too);
	// the next attempt starts over from the snapshot.
	firstDir := t.TempDir()
	var first *testNode
	var errs []error
	for attempt := 0; attempt < 2 && first == nil; attempt++ {
		first, err = startStandby(firstDir)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if first == nil {
		t.Fatalf("the first standby could not start in two attempts: %v", errs)
	}
	if checks.Load() < 1 {
		first.Close()
		t.Fatal("setup: the snapshot's header was never checked while sent")
	}
	checkStandby(first)
	first.Close()
	if primary.primary0().sentDamaged(path) {
		t.Fatal("a snapshot whose header check ran out of file handles is marked damaged: " +
			"it is offered no more")
	}

	// A second standby, from nothing, is still offered the same snapshot.
	second, err := startStandby(t.TempDir())
	if err != nil {
		t.Fatalf("a second standby could not start from the snapshot: %v", err)
	}
	defer second.Close()
	checkStandby(second)
}
