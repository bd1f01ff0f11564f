package replication

import (
	"log/slog"
	"testing"

	"sequent/core/shard"
)

// TestReview53ShardZeroFailingFirstLeavesAutomaticFailoverStalled (review-repl53, claim
// 1's other order, node.go's "left alone" branch): a promotion by the failover watch that
// stored its epoch and then failed to switch shard 0 (none switched) returns a bare
// error, after promoteLocked closed the watch and stopped the followers. Promote's doc
// says a promotion that fails once decided leaves the node "a standby following again,
// ready for a retry" (or, for the two exceptions, fenced with the cause in Err): here it
// is neither. The node no longer follows, no longer watches (no automatic retry, so the
// pair has no primary until an operator acts), holds a grant nothing renews, and Err (so
// /v1/status and /healthz) says nothing. The test wants the node either promoted by a
// retry or stopped with a cause in Err.
func TestReview53ShardZeroFailingFirstLeavesAutomaticFailoverStalled(t *testing.T) {
	_, witnessAddress := startTestWitness(t, testLeaseDuration)
	primaryAddress := freeAddress(t)
	primary := startSharded(t, withWitness(shardedConfig(t.TempDir(), primaryAddress, "",
		twoShards), "a", witnessAddress, testLeaseDuration))
	t.Cleanup(func() { primary.Close() })
	waitForFirstRenewal(t, primary)
	config := withWitness(shardedConfig(t.TempDir(), freeAddress(t), primaryAddress,
		twoShards), "b", witnessAddress, testLeaseDuration)
	messages := &recordingHandler{}
	config.Logger = slog.New(messages)
	standby := startSharded(t, config) // Its failover watch runs.
	t.Cleanup(func() { standby.Close() })
	raiseShardWhileUnlocked(t, standby, 0, 2)
	primary.Close()
	waitFor(t, "the watch's promotion to fail on shard 0", func() bool {
		return messages.logged(automaticFailoverFailedMessage) ||
			messages.logged(promotionFailedMessage)
	})
	for index, s := range standby.Shards() {
		if role := s.Role(); role != shard.RoleStandby {
			t.Fatalf("set-up: shard %d is %s, want standby (none switched)", index, role)
		}
	}
	waitWithin(t, promptWaitMax, "b to be promoted by a retry, or to say why it stopped",
		func() bool { return standby.Role() == shard.RolePrimary || standby.Err() != nil })
}
