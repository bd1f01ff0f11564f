package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
)

// blockEpochFile puts a directory where the node's epoch file is, so that storing the
// epoch fails (as on a full disk or a read-only directory); the returned function
// removes it again.
func blockEpochFile(t *testing.T, n *testNode) (unblock func()) {
	t.Helper()
	epochPath := n.config.EpochPath
	if err := os.Remove(epochPath); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(epochPath, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.RemoveAll(epochPath); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailedPromotionLeavesAFollowingStandby: a manual promotion whose epoch cannot be
// stored fails, and the node must be a working standby again: following its primary, so
// that the primary's sync writes are acknowledged. It used to be left with its followers
// stopped (the primary, alive, then waited for ever for acknowledgements).
func TestFailedPromotionLeavesAFollowingStandby(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer primary.Close()
	defer standby.Close()
	blockEpochFile(t, standby)
	if epoch, err := standby.Promote(); !errors.Is(err, errPromotionFailed) {
		t.Fatalf("promotion without storing the epoch: epoch %d, %v; want errPromotionFailed",
			epoch, err)
	}
	if role, epoch := standby.Role(), standby.Epoch(); role != shard.RoleStandby || epoch != 1 {
		t.Fatalf("after the failed promotion: %s at epoch %d, want a standby at epoch 1", role,
			epoch)
	}
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	reply, _ := primary.replies.wait(t, 2) // Sync: released once the standby acknowledged.
	if reply.Status != model.StatusOK {
		t.Fatalf("write after the standby's failed promotion: %s", reply.Status)
	}
	waitFor(t, "the standby to apply the write", func() bool {
		return standby.Log().Durable() >= reply.Op
	})
}

// TestFailedAutomaticFailoverIsRetried: the witness grants the standby the lease of its
// dead primary, and the promotion fails (the epoch cannot be stored). The failure must be
// logged at Error, and the standby must try again while its primary stays lost, so that
// it takes over once the disk is fixed. It used to log at Debug and stop watching: the
// pair was left without a primary, and nothing said so.
func TestFailedAutomaticFailoverIsRetried(t *testing.T) {
	var messages *recordingHandler
	var unblock func()
	primary, standby, _ := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		},
		beforeFirstWrite: func(standby *testNode) {
			unblock = blockEpochFile(t, standby) // Before anything could promote it.
		}})
	primary.Close()
	waitFor(t, "the automatic failover to fail", func() bool {
		return messages.logged(automaticFailoverFailedMessage)
	})
	if !messages.loggedAt(slog.LevelError, automaticFailoverFailedMessage) {
		t.Fatal("a failed automatic failover was not logged at Error")
	}
	unblock()
	waitFor(t, "the automatic failover to be retried", func() bool {
		return standby.Role() == shard.RolePrimary
	})
	standby.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := standby.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write after the retried failover: %s", reply.Status)
	}
}

// TestPromotionRetriedWithinItsLease: the witness grants the lease (for a minute, longer
// than the test) and the promotion fails. The retry must renew the grant this node
// still holds: it used to be refused as "held by b" (itself) until the lease ran out, a
// whole lease without a primary. It promotes to the epoch it was granted.
func TestPromotionRetriedWithinItsLease(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, time.Minute)
	witness.mutex.Lock()
	witness.acquireAfter = time.Now() // Past the restart wait.
	witness.mutex.Unlock()
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	standby := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress),
		"b", witnessAddress, time.Minute))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	primary.Close()
	unblock := blockEpochFile(t, standby)
	if epoch, err := standby.Promote(); !errors.Is(err, errPromotionFailed) {
		t.Fatalf("promotion without storing the epoch: epoch %d, %v", epoch, err)
	}
	unblock()
	epoch, err := standby.Promote()
	if err != nil {
		t.Fatalf("promotion retried within its lease: %v", err)
	}
	if epoch != 2 || standby.Role() != shard.RolePrimary {
		t.Fatalf("retried promotion: epoch %d, node %s; want a primary at epoch 2", epoch,
			standby.Role())
	}
}

// TestWitnessGrantsALiveLeaseToNobody: the witness never gives a live lease by an
// acquisition, not even to its holder's name asking with the epoch it was granted (two
// nodes can share a name, and the grantee's standby learns that epoch from it); a node
// whose promotion failed renews the grant it holds (TestPromotionRetriedWithinItsLease).
func TestWitnessGrantsALiveLeaseToNobody(t *testing.T) {
	const lease = witnessStepsLease
	runWitnessSteps(t, -time.Second, []witnessStep{
		{"acquire", 0, leaseAcquire, "b", 1, true, "b", 2, lease},
		{"another node acquires", 0, leaseAcquire, "c", 2, false, "b", 2, lease},
		{"the holder's name asks with its grant", lease / 2, leaseAcquire, "b", 2, false, "b",
			2, lease / 2},
		{"the holder's name asks with its old epoch", 0, leaseAcquire, "b", 1, false, "b", 2,
			lease / 2},
		{"the holder's name asks once the lease ran out", lease / 2, leaseAcquire, "b", 2,
			true, "b", 3, lease},
	})
}

// TestEpochAboveTheShardsLimitIsNotStored: an epoch no shard can hold (above
// shard.EpochMax) is refused before it is stored, and an epoch file holding one is an
// error naming the file. It used to be stored first and refused by the shard after, so
// that every restart failed.
func TestEpochAboveTheShardsLimitIsNotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	if err := StoreEpoch(path, shard.EpochMax); err != nil {
		t.Fatalf("store the highest epoch: %v", err)
	}
	if err := StoreEpoch(path, shard.EpochMax+1); err == nil {
		t.Fatal("an epoch above shard.EpochMax was stored")
	}
	if epoch, err := LoadEpoch(path); err != nil || epoch != shard.EpochMax {
		t.Fatalf("epoch file after the refused store: %d (%v), want %d", epoch, err,
			uint64(shard.EpochMax))
	}
	if err := os.WriteFile(path, []byte("4611686018427387904\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if epoch, err := LoadEpoch(path); err == nil {
		t.Fatalf("an epoch file holding %d was loaded", epoch)
	}
}

// TestWitnessEpochAboveTheShardsLimitFailsThePromotion: a witness that grants an epoch no
// shard can hold fails the promotion before anything is stored: the epoch file keeps the
// node's epoch (so that a restart works) and the node is still a standby.
func TestWitnessEpochAboveTheShardsLimitFailsThePromotion(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, time.Minute)
	witness.mutex.Lock()
	witness.acquireAfter = time.Now() // Past the restart wait.
	witness.epoch = shard.EpochMax    // Its grant is one above.
	witness.mutex.Unlock()
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standby := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress),
		"b", witnessAddress, time.Minute))
	defer standby.Close()
	if epoch, err := standby.Promote(); !errors.Is(err, errPromotionFailed) {
		t.Fatalf("promotion to the witness's epoch %d: epoch %d, %v; want errPromotionFailed",
			uint64(shard.EpochMax)+1, epoch, err)
	}
	if stored, err := LoadEpoch(standby.config.EpochPath); err != nil || stored != 1 {
		t.Fatalf("epoch file after the failed promotion: %d (%v), want 1", stored, err)
	}
	if role, epoch := standby.Role(), standby.Epoch(); role != shard.RoleStandby || epoch != 1 {
		t.Fatalf("after the failed promotion: %s at epoch %d, want a standby at epoch 1", role,
			epoch)
	}
}
