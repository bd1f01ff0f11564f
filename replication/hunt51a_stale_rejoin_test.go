package replication

import (
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
	setup := promotedWroteAloneThenDown(t, lease)
	// The old primary restarts as the promoted node's standby while that node is down.
	stale, logged := openStaleOldPrimary(t, setup, setup.witnessAddress, lease)
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
	back := startNode(t, withWitness(nodeConfig(setup.promotedDir, setup.promotedAddress, ""),
		"b", setup.witnessAddress, lease))
	defer back.Close()
	back.submit(t, 3, 3, model.OperationCreateTransfers, transfer(11, 2, 1, 1))
	if reply, _ := back.replies.wait(t, 3); reply.Status != model.StatusOK {
		t.Fatalf("write on the promoted node back: %s", reply.Status)
	}
	waitCaughtUp(t, stale, back)
}

// staleSetup is what promotedWroteAloneThenDown leaves: both nodes down, the promoted
// one (b) having written alone at promotedEpoch.
type staleSetup struct {
	oldDir, promotedDir, promotedAddress, witnessAddress string
	promotedEpoch                                        uint64
}

// promotedWroteAloneThenDown runs a (primary) and b (its standby) with a witness, closes
// a so that b is promoted automatically, has b take a write alone, and closes b.
func promotedWroteAloneThenDown(t *testing.T, lease time.Duration) staleSetup {
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
	setup := staleSetup{oldDir: oldDir, promotedDir: promotedDir,
		promotedAddress: promotedAddress, witnessAddress: witnessAddress,
		promotedEpoch: promoted.Epoch()}
	promoted.Close()
	return setup
}

// openStaleOldPrimary restarts a as b's standby while b is down, asking the witness at
// witnessAddress, so that it starts unaligned after a short PrimaryWaitAtStart; it checks
// that a is below b's epoch and returns it (closed at the test's end) with its log.
func openStaleOldPrimary(t *testing.T, setup staleSetup, witnessAddress string,
	lease time.Duration) (*testNode, *lockedLog) {
	t.Helper()
	logged := &lockedLog{}
	config := withWitness(nodeConfig(setup.oldDir, "", setup.promotedAddress), "a",
		witnessAddress, lease)
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	config.Logger = slog.New(slog.NewTextHandler(logged, nil))
	stale := startNode(t, config)
	t.Cleanup(func() { stale.Close() })
	if stale.Epoch() >= setup.promotedEpoch {
		t.Fatalf("setup: the old primary is at epoch %d, the promoted node was at %d",
			stale.Epoch(), setup.promotedEpoch)
	}
	return stale, logged
}
