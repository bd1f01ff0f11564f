package replication

import (
	"errors"
	"testing"
	"time"

	"sequent/core/shard"
)

// TestReview2repl53HalfPromotedNodeRestartedTakesOver (review2-repl53, a restart after a
// promotion that failed part way): the node fenced itself with its epoch (2) stored and
// the grant of epoch 2 left to run out. Restarted as it was (the standby of the old
// primary, which is gone), it must come back a standby at the stored epoch, not taken
// for stale by the witness (the grant is its own), and its failover watch must promote
// it, every shard together, above the grant it left.
func TestReview2repl53HalfPromotedNodeRestartedTakesOver(t *testing.T) {
	primary, standby, _, _ := startShardedWitnessPair(t)
	raiseShardWhileUnlocked(t, standby, 1, 2)
	primary.Close()
	if _, err := promoteOnceGranted(t, standby); !errors.Is(err, errPromotionPartWay) {
		t.Fatalf("set-up: the promotion's error is %v, want the part-way failure", err)
	}
	config := standby.config
	standby.Close()
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	restarted := startSharded(t, config)
	t.Cleanup(func() { restarted.Close() })
	if role, epoch := restarted.Shard().RoleAndEpoch(); role != shard.RoleStandby ||
		epoch != 2 {
		t.Fatalf("restarted as %s at epoch %d, want a standby at the stored epoch 2", role,
			epoch)
	}
	// Every shard: Role reads shard 0, which switches first.
	waitWithin(t, promptWaitMax, "the restarted node's watch to promote it", func() bool {
		for _, s := range restarted.Shards() {
			if s.Role() != shard.RolePrimary {
				return false
			}
		}
		return true
	})
	for index, s := range restarted.Shards() {
		if role, epoch := s.RoleAndEpoch(); role != shard.RolePrimary || epoch <= 2 {
			t.Fatalf("shard %d is %s at epoch %d, want primary above 2", index, role, epoch)
		}
	}
}
