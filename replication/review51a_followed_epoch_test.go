package replication

import (
	"context"
	"os"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// review51a: hunt51a's failover watch refuses to promote a node whose epoch is below the
// witness's when the lease was last granted to another node (behindTheWitness): such a
// node "never followed that holder". But a running standby that connects to its primary
// after its start (it started unaligned, the primary being unreachable for
// PrimaryWaitAtStart) follows it at its own, older epoch: Group.follow never adopted the
// primary's epoch (only OpenNode's align stored it), and only an entry of the new epoch
// streamed to it raised it, in memory (the epoch file kept the old one). So a standby that
// did follow the holder, and holds every write it took, was never promoted automatically
// once that holder died: (1) when the holder took no write since the standby joined it,
// (2) after the standby restarted while the holder was down (its epoch file older).

// staleThenFollowing runs the hunt51a scenario up to the point where the old primary
// ("a"), restarted unaligned as the promoted node's ("b") standby while b was down, has
// joined b, back up, and follows it. It returns a's node, b's, b's directory and
// address, and the witness address; b wrote nothing since its promotion.
func staleThenFollowing(t *testing.T, lease time.Duration) (stale, back *testNode,
	promotedDir, promotedAddress, witnessAddress string) {
	t.Helper()
	witness, witnessAddress := startTestWitness(t, lease)
	oldDir, promotedDir := t.TempDir(), t.TempDir()
	oldAddress, promotedAddress := freeAddress(t), freeAddress(t)
	old := startNode(t, withWitness(nodeConfig(oldDir, oldAddress, ""), "a", witnessAddress,
		lease))
	promoted := startNode(t, withWitness(nodeConfig(promotedDir, promotedAddress, oldAddress),
		"b", witnessAddress, lease))
	old.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	old.replies.wait(t, 1)
	waitCaughtUp(t, promoted, old)
	waitFor(t, "renewals past the witness's start-up wait", func() bool {
		return time.Now().After(witness.acquireAfter.Add(lease / 2))
	})
	old.Close()
	waitFor(t, "automatic promotion", func() bool {
		return promoted.Shard().Role() == shard.RolePrimary
	})
	promotedEpoch := promoted.Epoch()
	promoted.Close()

	// a restarts as b's standby while b is down: it starts unaligned from its own log.
	config := withWitness(nodeConfig(oldDir, "", promotedAddress), "a", witnessAddress, lease)
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	stale = &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(stale.replies)})
	if stale.Epoch() >= promotedEpoch {
		t.Fatalf("setup: a is at epoch %d, b was at %d", stale.Epoch(), promotedEpoch)
	}
	// b comes back (it renews the lease it holds) and a joins it.
	back = startNode(t, withWitness(nodeConfig(promotedDir, promotedAddress, ""), "b",
		witnessAddress, lease))
	waitFor(t, "a to follow b", func() bool { return stale.primaryHeardWithin(lease / 2) })
	return stale, back, promotedDir, promotedAddress, witnessAddress
}

// TestReview51aStandbyThatJoinedTheHolderIsPromoted: claim (1) above. a follows b, which
// then dies having taken no write since: a holds everything b acknowledged and must be
// promoted automatically, as it was before hunt51a.
func TestReview51aStandbyThatJoinedTheHolderIsPromoted(t *testing.T) {
	lease := testLeaseDuration
	stale, back, _, _, _ := staleThenFollowing(t, lease)
	defer stale.Close()
	back.Close()
	waitWithin(t, promptWaitMax, "a, which followed b, to be promoted once b died", func() bool {
		return stale.Role() == shard.RolePrimary
	})
}

// TestReview51aStandbyRestartedAfterFollowingTheHolderIsPromoted: claim (2) above. a
// follows b and receives b's writes (of b's epoch), then restarts while b is down: it
// holds every write b acknowledged and must be promoted automatically.
func TestReview51aStandbyRestartedAfterFollowingTheHolderIsPromoted(t *testing.T) {
	lease := testLeaseDuration
	stale, back, _, promotedAddress, witnessAddress := staleThenFollowing(t, lease)
	back.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := back.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("a write on b: %s", reply.Status)
	}
	waitCaughtUp(t, stale, back)
	config := stale.config
	stale.Close()
	back.Close()

	config.StandbyOf = promotedAddress
	config.Witness = witnessAddress
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	restarted := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(restarted.replies)})
	defer restarted.Close()
	waitWithin(t, promptWaitMax, "a, which followed b, to be promoted after its restart",
		func() bool { return restarted.Role() == shard.RolePrimary })
}

// TestReview51aPlanSkipsADamagedSnapshotForASoundOne: the plan chose the newest snapshot
// whose header reads (wal.ListSnapshots checks headers only). A snapshot whose body is
// damaged on the primary's disk was offered to every standby that needed a start over;
// since hunt51a/hunt51b the standby reads it whole and refuses it (its start fails,
// its own state kept), and the primary offered it again at every start, for ever (the
// pair had no standby), although an older snapshot it kept, whole, bridged the gap.
// The plan must offer a snapshot that reads whole.
func TestReview51aPlanSkipsADamagedSnapshotForASoundOne(t *testing.T) {
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 2)
	written := reportSnapshots(&config)
	primary := startNode(t, config)
	defer primary.Close()
	writeSegmentsOfHistory(t, primary)
	older := snapshotNow(t, primary, written)
	primary.submit(t, 6000, 60, model.OperationCreateTransfers, transfer(8, 2, 1, 5))
	primary.replies.wait(t, 6000)
	newer := snapshotNow(t, primary, written)
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 2 || snapshots[0].Meta.Op != newer.Meta.Op ||
		snapshots[1].Meta.Op != older.Meta.Op {
		t.Fatalf("setup: want the two snapshots (%+v, %v)", snapshots, err)
	}
	if first := primary.Log().FirstOp(); first <= 1 || first > older.Meta.Op+1 {
		t.Fatalf("setup: want a log retired up to the older snapshot (first op %d, "+
			"snapshot at %d)", first, older.Meta.Op)
	}
	data, err := os.ReadFile(snapshots[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-8] ^= 0xff // In the body: the header stays sound.
	if err := os.WriteFile(snapshots[0].Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if listed, err := wal.ListSnapshots(config.Groups[0].SnapshotDir); err != nil ||
		listed[0].Err != nil || snapshotReadsWhole(listed[0].Path) {
		t.Fatalf("setup: want a sound header over a damaged body (%+v, %v)", listed, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	standbyConfig := retiringSnapshots(nodeConfig(t.TempDir(), "", config.Listen), 2)
	node, err := OpenNode(ctx, standbyConfig)
	if err != nil {
		t.Fatalf("a new standby did not start, although the primary keeps a sound "+
			"snapshot that bridges its log: %v", err)
	}
	standby := &testNode{Node: node, replies: newCollector(), config: standbyConfig}
	node.Start([]shard.Outputs{shard.RepliesOnly(standby.replies)})
	defer standby.Close()
	waitCaughtUp(t, standby, primary)
}
