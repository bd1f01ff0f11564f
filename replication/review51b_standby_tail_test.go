package replication

import (
	"context"
	"os"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestStandbyWhoseLogLostItsTailUnderADamagedSnapshotRejoins (review of hunt51b):
// recovery now refuses a log that ends before the newest listed snapshot even when that
// snapshot's file is damaged (shard.ErrLogBehindSnapshot). On a lone node that is right:
// it holds nothing else. But a standby aligns with its primary before it recovers: with
// its log's tail lost (here cut after its older snapshot) and its newest snapshot
// damaged (one bad disk), the primary plans a stream after the op the log ends at and
// holds every op after it. Before hunt51b recovery fell back to the older snapshot and
// the standby caught up; now it can never start as a standby, whatever its primary
// holds, and nothing says what the operator can do. Snapshots above the op the primary
// streams after are redundant then: they must be set aside (kept, never deleted) as a
// truncation removes them, and the standby must rejoin with the primary's state.
func TestStandbyWhoseLogLostItsTailUnderADamagedSnapshotRejoins(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standbyDir := t.TempDir()
	standbyConfig := nodeConfig(standbyDir, freeAddress(t), primaryAddress)
	written := make(chan shard.SnapshotResult, 4)
	standbyConfig.Snapshots.OnWritten = func(r shard.SnapshotResult) { written <- r }
	standby := startNode(t, standbyConfig)
	standbyClosed := false
	defer func() {
		if !standbyClosed {
			standby.Close()
		}
	}()
	snapshotOnStandby := func() shard.SnapshotResult {
		t.Helper()
		primary.Shard().RequestSnapshot()
		result := <-written
		if result.Err != nil {
			t.Fatal(result.Err)
		}
		return result
	}
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	older := snapshotOnStandby()
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(9, 1, 2, 5))
	primary.replies.wait(t, 2)
	newest := snapshotOnStandby()
	primary.submit(t, 3, 3, model.OperationCreateTransfers, transfer(10, 2, 1, 3))
	primary.replies.wait(t, 3)
	waitFor(t, "the standby holding the primary's log", func() bool {
		return standby.Log().Durable() >= primary.Log().LastOp()
	})
	standby.Close()
	standbyClosed = true

	// One bad disk: the log's tail after the older snapshot is lost, and the newest
	// snapshot's header is damaged.
	log, err := wal.Open(wal.Options{Dir: standbyConfig.Groups[0].LogDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := log.TruncateAfter(older.Meta.Op); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(newest.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte{0xFF}, 30); err != nil {
		t.Fatal(err)
	}
	file.Close()

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, standbyConfig)
	if err != nil {
		t.Fatalf("the standby cannot rejoin its primary, which holds every op after its "+
			"log's end: %v", err)
	}
	rejoined := &testNode{Node: node, replies: newCollector(), config: standbyConfig}
	node.Start([]shard.Outputs{shard.RepliesOnly(rejoined.replies)})
	defer rejoined.Close()
	waitFor(t, "the rejoined standby catching up", func() bool {
		return node.Log().Durable() >= primary.Log().LastOp()
	})
	if node.shardDigest(t) != primary.Node.shardDigest(t) {
		t.Fatal("the rejoined standby's state is not the primary's")
	}
}
