package replication

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
)

// TestStaleOldPrimaryIsNotPromotedAutomatically (hunt51a): after an automatic failover
// the promoted node takes writes alone (no standby yet) and then goes down; the old
// primary, restarted as its standby meanwhile, waits PrimaryWaitAtStart and starts from
// its own log, which holds none of those writes. Its failover watch took its primary
// for lost and asked the witness for the lease, which had run out: the witness granted
// it, and the old primary promoted itself without the promoted node's acknowledged
// writes (which its divergence check then truncates when that node rejoins). The
// witness's epoch shows it: it was last granted, to the other node, at an epoch this
// node never reached, so this node never followed that node's history. Automatic
// failover must not promote it (an operator still may: Node.Promote), and once the
// promoted node is back it follows it.
func TestStaleOldPrimaryIsNotPromotedAutomatically(t *testing.T) {
	lease := testLeaseDuration
	witness, witnessAddress := startTestWitness(t, lease)
	oldDir, promotedDir := t.TempDir(), t.TempDir()
	oldAddress, promotedAddress := freeAddress(t), freeAddress(t)
	old := startNode(t, withWitness(nodeConfig(oldDir, oldAddress, ""), "a", witnessAddress,
		lease))
	promoted := startNode(t, withWitness(nodeConfig(promotedDir, promotedAddress, oldAddress),
		"b", witnessAddress, lease))
	old.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	old.replies.wait(t, 1)
	waitFor(t, "renewals past the witness's start-up wait", func() bool {
		return time.Now().After(witness.acquireAfter.Add(lease / 2))
	})
	old.Close()
	waitFor(t, "automatic promotion", func() bool {
		return promoted.Shard().Role() == shard.RolePrimary
	})
	// The promoted node takes a write alone, then goes down.
	promoted.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := promoted.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write on the promoted node: %s", reply.Status)
	}
	promotedEpoch := promoted.Epoch()
	promoted.Close()

	// The old primary restarts as the promoted node's standby while that node is down.
	var logged lockedLog
	config := withWitness(nodeConfig(oldDir, "", promotedAddress), "a", witnessAddress, lease)
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	config.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	stale := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(stale.replies)})
	defer stale.Close()
	if stale.Epoch() >= promotedEpoch {
		t.Fatalf("setup: the old primary is at epoch %d, the promoted node was at %d",
			stale.Epoch(), promotedEpoch)
	}
	waitFor(t, "the old primary's failover watch to decide", func() bool {
		return stale.Role() != shard.RoleStandby ||
			strings.Contains(logged.String(), staleStandbyMessage)
	})
	if role := stale.Role(); role != shard.RoleStandby {
		t.Fatalf("the old primary, which never followed the promoted node, was promoted "+
			"automatically (%s at epoch %d) without its acknowledged writes", role,
			stale.Epoch())
	}
	// The promoted node comes back: it still holds the lease (the probe changed nothing),
	// and the old primary follows it and receives the write it lacked.
	back := startNode(t, withWitness(nodeConfig(promotedDir, promotedAddress, ""), "b",
		witnessAddress, lease))
	defer back.Close()
	back.submit(t, 3, 3, model.OperationCreateTransfers, transfer(11, 2, 1, 1))
	if reply, _ := back.replies.wait(t, 3); reply.Status != model.StatusOK {
		t.Fatalf("write on the promoted node back: %s", reply.Status)
	}
	waitCaughtUp(t, stale, back)
}
