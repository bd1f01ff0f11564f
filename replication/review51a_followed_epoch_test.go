package replication

import (
	"context"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
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
