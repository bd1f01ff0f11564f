package replication

import (
	"context"
	"errors"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestCrashInsideTheTruncatePlanLeavesARestartableStandby (review, session 42): a demoted
// primary rejoining as a standby carries out a truncate plan in two steps, its log cut
// after the op both logs share and its snapshots of the divergent ops removed. A crash
// (SIGKILL) between the two must leave a node that the next start brings back. Here the
// old primary took a snapshot of its divergent suffix before it died; the start that
// aligns it stops between the two steps (the hook stands for the kill). Before the fix
// the log was cut first: the divergent snapshot stayed above a log that now ends at the
// shared op, the next handshake found nothing to truncate (plan stream), and every later
// start failed with shard.ErrLogBehindSnapshot until an operator removed the file. With
// the snapshots removed first (durably), the log is still whole after the crash, the next
// handshake asks for the truncation again, and the node rejoins with the new primary's
// state.
func TestCrashInsideTheTruncatePlanLeavesARestartableStandby(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primaryConfig := nodeConfig(primaryDir, primaryAddress, "")
	written := make(chan shard.SnapshotResult, 4)
	primaryConfig.Snapshots = &shard.SnapshotConfig{
		OnWritten: func(r shard.SnapshotResult) { written <- r }}
	primary := startNode(t, primaryConfig)
	standby := startNode(t, nodeConfig(standbyDir, standbyAddress, primaryAddress))
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)

	// The standby stops; the primary goes on alone (nothing acknowledged) and snapshots
	// its divergent state.
	standby.Close()
	waitFor(t, "the primary to notice", func() bool { return primary.primary0().current.Load() == nil })
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 50))
	waitFor(t, "the unacknowledged entry to be written", func() bool { return primary.Log().Durable() >= 2 })
	primary.Shard().RequestSnapshot()
	var snapshot shard.SnapshotResult
	select {
	case snapshot = <-written:
		if snapshot.Err != nil {
			t.Fatal(snapshot.Err)
		}
	case <-time.After(waitMax):
		t.Fatal("no snapshot of the divergent suffix")
	}
	if _, _, ok := primary.replies.get(2); ok {
		t.Fatal("sync mode released a reply the standby never acknowledged")
	}
	primary.Close()

	// The standby is promoted (alone: it releases on local durability) and writes
	// something else after op 1.
	promotedConfig := nodeConfig(standbyDir, standbyAddress, "")
	promotedConfig.DegradeAfter = time.Millisecond
	promoted := startNode(t, promotedConfig)
	defer promoted.Close()
	promoted.submit(t, 3, 3, model.OperationCreateTransfers, transfer(11, 2, 1, 7))
	promoted.replies.wait(t, 3)

	// The old primary rejoins and dies between the truncate plan's two steps.
	crashed := errors.New("test: killed inside the truncate plan")
	testHookTruncatePlanMidway = func() error { return crashed }
	t.Cleanup(func() { testHookTruncatePlanMidway = nil })
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	rejoinConfig := nodeConfig(primaryDir, primaryAddress, standbyAddress)
	if node, err := OpenNode(ctx, rejoinConfig); !errors.Is(err, crashed) {
		if err == nil {
			node.Close()
		}
		t.Fatalf("the first rejoin: %v, want the simulated crash inside the truncate plan", err)
	}
	testHookTruncatePlanMidway = nil

	// Restarted, it must come back as the new primary's standby.
	node, err := OpenNode(ctx, rejoinConfig)
	if err != nil {
		snapshots, _ := wal.ListSnapshots(rejoinConfig.Groups[0].SnapshotDir)
		for _, info := range snapshots {
			t.Logf("left on disk: snapshot of op %d (%s)", info.Meta.Op, info.Path)
		}
		t.Fatalf("the restart after a crash inside the truncate plan: %v", err)
	}
	old := &testNode{Node: node, replies: newCollector(), config: rejoinConfig}
	node.Start([]shard.Outputs{shard.RepliesOnly(old.replies)})
	defer old.Close()
	waitFor(t, "the old primary to follow", func() bool {
		return old.Log().Durable() >= promoted.Log().LastOp()
	})
	if old.Log().LastChain() != promoted.Log().LastChain() {
		t.Fatal("chains differ after the rejoin")
	}
	if got, want := old.Node.shardDigest(t), promoted.Node.shardDigest(t); got != want {
		t.Fatal("the rejoined node's state (from its snapshots and log) differs from the new primary's")
	}
}
