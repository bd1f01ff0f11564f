package replication

import (
	"context"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
)

// TestPromotedBaseOnlyLogStartsANewStandbyOver (hunt51a): a node that started over from
// its primary's snapshot at op X holds a log that is only a base (wal.Log.StartAfter: last
// op X, no entry) until its next entry; promoted meanwhile (its primary idle, then lost),
// it planned for a new standby with an empty log a stream from op 0, since its log's
// first op read 0 ("no entry"), and the stream then failed at once (the ops up to X are
// in its snapshot only: wal.ErrCompacted), at every reconnection, so that the standby
// waited for ever for a primary that answered; the plan must start it over from the
// snapshot, as it does when the log it needs was retired.
func TestPromotedBaseOnlyLogStartsANewStandbyOver(t *testing.T) {
	// The old primary: a history spanning segments, its log retired up to a snapshot at
	// its last op.
	oldConfig := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	written := reportSnapshots(&oldConfig)
	old := startNode(t, oldConfig)
	writeSegmentsOfHistory(t, old)
	snapshotNow(t, old, written)
	if old.Log().FirstOp() <= 1 {
		t.Fatalf("setup: the old primary's log was not retired (first op %d)",
			old.Log().FirstOp())
	}
	// Its standby starts over from that snapshot; nothing is written after it.
	promoted := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), oldConfig.Listen))
	defer promoted.Close()
	waitFor(t, "the standby to start over", func() bool {
		return promoted.Log().LastOp() >= old.Log().LastOp()
	})
	old.Close()
	if promoted.Log().FirstOp() != 0 || promoted.Log().LastOp() == 0 {
		t.Fatalf("setup: want a log that is only a base (first op %d, last op %d)",
			promoted.Log().FirstOp(), promoted.Log().LastOp())
	}
	if _, err := promoted.Promote(); err != nil {
		t.Fatal(err)
	}

	// A new standby with an empty log joins the promoted node.
	ctx, cancel := context.WithTimeout(context.Background(), promptWaitMax)
	defer cancel()
	config := nodeConfig(t.TempDir(), freeAddress(t), promoted.config.Listen)
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatalf("a new standby of the promoted node did not start: %v", err)
	}
	standby := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(standby.replies)})
	defer standby.Close()
	promoted.submit(t, 7000, 100, model.OperationCreateTransfers, transfer(7, 1, 2, 3))
	if reply, _ := promoted.replies.wait(t, 7000); reply.Status != model.StatusOK {
		t.Fatalf("a write on the promoted node: %s", reply.Status)
	}
	waitCaughtUp(t, standby, promoted)
}
