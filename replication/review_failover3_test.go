package replication

import (
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
)

// TestNewPrimarysLeaseIsNotGrantedToAnotherNodeOfItsName: the witness grants the lease
// to standby b ("x"), which promotes to epoch 2 but cannot reach the witness since (its
// first renewal hangs), so the lease stays as the acquisition left it. Node c, which
// shares b's name (both default to the same --addr) and learned epoch 2 from b's
// welcome, asks for the lease. b is the primary and counts on that lease: c must be
// refused. It used to get it again at the same epoch (the witness's grant again to a
// failed promotion takes the epoch as proof of being the grantee, but the epoch is
// public once the grantee writes under it) and promoted itself to epoch 3: two
// primaries, each counting on the lease.
func TestNewPrimarysLeaseIsNotGrantedToAnotherNodeOfItsName(t *testing.T) {
	const lease = time.Minute // Nothing runs out during the test.
	witness, witnessAddress := startTestWitness(t, lease)
	witness.mutex.Lock()
	witness.acquireAfter = time.Now() // Past the restart wait.
	witness.mutex.Unlock()
	witnessLinkOfB := newFreezingProxy(t, witnessAddress)
	oldPrimaryAddress, bAddress := freeAddress(t), freeAddress(t)
	oldPrimary := startNode(t, nodeConfig(t.TempDir(), oldPrimaryAddress, ""))
	b := startNode(t, withWitness(nodeConfig(t.TempDir(), bAddress, oldPrimaryAddress), "x",
		witnessLinkOfB.address(), lease))
	defer b.Close()
	oldPrimary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	oldPrimary.replies.wait(t, 1)
	oldPrimary.Close()
	// The grant has arrived when the promotion waits for the followers; b's renewals hang
	// from then on.
	testHookPromotionUnlocked = func() { witnessLinkOfB.frozen.Store(true) }
	defer func() { testHookPromotionUnlocked = nil }()
	if epoch, err := b.Promote(); err != nil || epoch != 2 {
		t.Fatalf("b's promotion: epoch %d, %v; want epoch 2", epoch, err)
	}
	testHookPromotionUnlocked = nil
	c := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t), bAddress), "x",
		witnessAddress, lease))
	defer c.Close()
	if epoch := c.Epoch(); epoch != 2 {
		t.Fatalf("c learned epoch %d from b's welcome, want 2", epoch)
	}
	epoch, err := c.Promote()
	if err == nil {
		t.Fatalf("c was granted the lease and promoted to epoch %d while b is the primary "+
			"of epoch 2 (%s, its lease valid: %v): two primaries", epoch, b.Role(),
			b.leaseClock.valid())
	}
	t.Logf("c's promotion refused: %v", err)
	if role := c.Role(); role != shard.RoleStandby {
		t.Fatalf("c after its refused promotion: %s, want a standby", role)
	}
}

// TestFailedAutomaticFailoverKeepsItsEpochAcrossLeases: a promotion that keeps failing
// (the epoch cannot be stored) for several leases retries at the epoch it was granted,
// renewing that grant, so that it says so at Error once: the cause names the epoch, and
// a new acquisition per lease (a new epoch each) would log at Error every lease, and
// burn an epoch every lease. The disk is mended as the fifth failure is logged (on the
// node's goroutine, so the sixth attempt succeeds however the test is scheduled): over a
// lease of retries, and short of failedPromotionsPerGrantMax, after which the grant is
// given up (a later attempt acquires afresh, at a new epoch:
// TestBrokenDiskGivesTheWitnessLeaseUp).
func TestFailedAutomaticFailoverKeepsItsEpochAcrossLeases(t *testing.T) {
	lease := testLeaseDuration
	_, witnessAddress := startTestWitness(t, lease)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessAddress, lease))
	defer primary.Close()
	messages := &recordingHandler{}
	const failuresBeforeMending = failedPromotionsPerGrantMax - 3
	var unblock atomic.Pointer[func()]
	var mendOnce sync.Once
	messages.recorded = func(message string) {
		if mend := unblock.Load(); mend != nil && message == automaticFailoverFailedMessage &&
			messages.count(message) >= failuresBeforeMending {
			mendOnce.Do(*mend)
		}
	}
	standbyConfig := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		witnessAddress, lease)
	standbyConfig.Logger = slog.New(messages)
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	blockEpochFile(t, standby)
	epochPath := standby.config.EpochPath
	mend := func() { // On the node's goroutine: t.Error, never t.Fatal.
		if err := os.RemoveAll(epochPath); err != nil {
			t.Error(err)
		}
	}
	unblock.Store(&mend)
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	primary.Close()
	waitFor(t, "the automatic failover to be retried until it succeeds", func() bool {
		return standby.Role() == shard.RolePrimary
	})
	if failed := messages.count(automaticFailoverFailedMessage); failed < failuresBeforeMending {
		t.Fatalf("%d failed automatic failovers before the promotion, want at least %d",
			failed, failuresBeforeMending)
	}
	if logged := messages.countAt(slog.LevelError, automaticFailoverFailedMessage); logged != 1 {
		t.Fatalf("%d failed automatic failovers logged at Error, want 1 (the cause did not "+
			"change)", logged)
	}
	if epoch := standby.Epoch(); epoch != 2 {
		t.Fatalf("promoted to epoch %d after failing for over a lease, want the granted 2",
			epoch)
	}
}

// countAt returns how many records of message were logged at level.
func (h *recordingHandler) countAt(level slog.Level, message string) int {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	count := 0
	for i, logged := range h.messages {
		if logged == message && h.levels[i] == level {
			count++
		}
	}
	return count
}
