package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
)

const promotionFailedMessage = "replication: PROMOTION FAILED part way; restart the node"

// promoteDuringPromotion sets testHookPromotionUnlocked so that the first promotion to
// release the mutex (to wait for the followers) runs a second Promote in that window, as
// an operator's `sequent admin promote` arriving while the witness watcher promotes (or
// two operators at once) would; the second call's result is stored in second. Only the
// first call of the hook acts, so a second promotion that waits too cannot recurse. The
// hook is set and cleared under the node's mutex, which a promotion takes before it reads
// the hook: the witness watcher's goroutine, started before the hook was set, then sees
// it (and the race detector knows it does).
func promoteDuringPromotion(t *testing.T, node *Node) *secondPromotion {
	second := &secondPromotion{}
	var called atomic.Bool
	node.mutex.Lock()
	testHookPromotionUnlocked = func() {
		if called.Swap(true) {
			return
		}
		epoch, err := node.Promote()
		second.epoch.Store(epoch)
		second.err.Store(&err)
	}
	node.mutex.Unlock()
	t.Cleanup(func() {
		node.mutex.Lock()
		testHookPromotionUnlocked = nil
		node.mutex.Unlock()
	})
	return second
}

// secondPromotion is the result of the Promote that promoteDuringPromotion runs.
type secondPromotion struct {
	epoch atomic.Uint64
	err   atomic.Pointer[error] // Nil until the second Promote has returned.
}

// TestConcurrentPromotionsPromoteOnce: a second Promote while the first waits for the
// followers to stop used to skip that wait (following was already cancelled) and switch
// the shards while a follower could still be inside Replicate; the first then failed to
// promote the already promoted shards and logged PROMOTION FAILED (restart the node) for
// a node that had been promoted. The second call must be refused clearly, the first must
// succeed, and the epoch must rise once.
func TestConcurrentPromotionsPromoteOnce(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	handler := &recordingHandler{}
	standbyConfig := nodeConfig(t.TempDir(), freeAddress(t), primaryAddress)
	standbyConfig.Logger = slog.New(handler)
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	primary.Close()
	epochBefore := standby.Epoch()

	second := promoteDuringPromotion(t, standby.Node)
	epoch, err := standby.Promote()
	if err != nil {
		t.Fatalf("first promotion: %v", err)
	}
	secondErr := second.err.Load()
	if secondErr == nil {
		t.Fatal("the second promotion did not run while the first waited")
	}
	if !errors.Is(*secondErr, ErrPromotionUnderway) || second.epoch.Load() != 0 {
		t.Fatalf("second promotion: epoch %d, %v; want 0, ErrPromotionUnderway",
			second.epoch.Load(), *secondErr)
	}
	if epoch != epochBefore+1 || standby.Epoch() != epoch {
		t.Fatalf("promoted to epoch %d, node at %d, want %d", epoch, standby.Epoch(), epochBefore+1)
	}
	if stored, err := LoadEpoch(standbyConfig.EpochPath); err != nil || stored != epoch {
		t.Fatalf("persisted epoch %d (%v), want %d", stored, err, epoch)
	}
	if handler.count(promotionFailedMessage) != 0 {
		t.Fatal("PROMOTION FAILED logged for a node that was promoted")
	}
	if count := handler.count("replication: PROMOTED to primary"); count != 1 {
		t.Fatalf("%d promotions logged, want 1", count)
	}
	if role := standby.Role(); role != shard.RolePrimary {
		t.Fatalf("node is %s after the promotions", role)
	}
	if err := standby.shardErr(); err != nil {
		t.Fatalf("failed primary: %v", err)
	}
	standby.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := standby.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write after the promotion: %s", reply.Status)
	}
	// Once promoted, a further Promote says so, and changes nothing.
	if _, err := standby.Promote(); err == nil || standby.Epoch() != epoch {
		t.Fatalf("promotion of a primary: %v, epoch %d (want an error, epoch %d)", err,
			standby.Epoch(), epoch)
	}
}

// TestPromotionDuringAutomaticFailoverIsAnsweredClearly: an operator's promotion while
// the witness watcher's own is under way used to ask the witness for the lease this node
// had just been granted, and be told that the lease "is held by b: the primary may be
// alive" — b being this very node. It must be told that a promotion is under way, and
// the automatic failover must complete.
func TestPromotionDuringAutomaticFailoverIsAnsweredClearly(t *testing.T) {
	primary, standby, _ := startWitnessPair(t, testLeaseDuration)
	second := promoteDuringPromotion(t, standby.Node)
	primary.Close()
	waitFor(t, "automatic promotion", func() bool { return standby.Role() == shard.RolePrimary })
	secondErr := second.err.Load()
	if secondErr == nil {
		t.Fatal("the operator's promotion did not run while the automatic one waited")
	}
	if !errors.Is(*secondErr, ErrPromotionUnderway) {
		t.Fatalf("operator's promotion during the automatic one: %v, want ErrPromotionUnderway",
			*secondErr)
	}
	if stored, err := LoadEpoch(standby.config.EpochPath); err != nil || stored != standby.Epoch() {
		t.Fatalf("persisted epoch %d (%v), node at %d", stored, err, standby.Epoch())
	}
	if err := standby.shardErr(); err != nil {
		t.Fatalf("failed primary: %v", err)
	}
}

// TestPromotionAsCloseBeginsWaitsForTheFollowers: Close ends the node's lifetime before
// it takes the mutex, and that cancels following too. A promotion that took the mutex in
// between used to read the cancelled following as "the followers are stopped" and
// switch the shards without waiting for them, while one could still be inside Replicate.
// It must wait for them whatever cancelled following.
func TestPromotionAsCloseBeginsWaitsForTheFollowers(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), primaryAddress))
	defer standby.Close()
	waitFor(t, "the standby to connect", func() bool { return standby.groups[0].standby.connected.Load() })

	var waited atomic.Bool
	testHookPromotionUnlocked = func() { waited.Store(true) } // Runs after followers.Wait.
	defer func() { testHookPromotionUnlocked = nil }()
	standby.endLifetime() // Close's first step.
	if _, err := standby.Promote(); err != nil {
		t.Fatalf("promotion: %v", err)
	}
	if !waited.Load() {
		t.Fatal("the promotion switched the shards without waiting for the followers to stop")
	}
}

// TestPromotionRetriedAfterAFailedOneSucceeds: a promotion that fails after its wait for
// the followers (here the epoch cannot be stored) must not leave the node marked as
// promoting, or every later promotion (the operator's retry once the disk is fixed) would
// be refused as under way forever. A promotion asked for during the failing one's wait is
// refused as under way; the retry after the failure promotes the node once.
func TestPromotionRetriedAfterAFailedOneSucceeds(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer standby.Close()
	primary.Close()
	epochPath := standby.config.EpochPath
	if err := os.Remove(epochPath); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(epochPath, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	second := promoteDuringPromotion(t, standby.Node)
	if epoch, err := standby.Promote(); err == nil {
		t.Fatalf("promoted to epoch %d without storing it", epoch)
	}
	secondErr := second.err.Load()
	if secondErr == nil {
		t.Fatal("no promotion ran while the failing one waited")
	}
	if !errors.Is(*secondErr, ErrPromotionUnderway) {
		t.Fatalf("promotion during the failing one's wait: %v, want ErrPromotionUnderway",
			*secondErr)
	}
	if err := os.RemoveAll(epochPath); err != nil {
		t.Fatal(err)
	}
	epoch, err := standby.Promote()
	if err != nil {
		t.Fatalf("promotion retried after a failed one: %v", err)
	}
	if epoch != 2 || standby.Epoch() != 2 || standby.Role() != shard.RolePrimary {
		t.Fatalf("retried promotion: epoch %d, node %s at %d; want a primary at epoch 2", epoch,
			standby.Role(), standby.Epoch())
	}
	if stored, err := LoadEpoch(epochPath); err != nil || stored != epoch {
		t.Fatalf("persisted epoch %d (%v), want %d", stored, err, epoch)
	}
}
