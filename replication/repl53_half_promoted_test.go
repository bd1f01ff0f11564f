package replication

import (
	"errors"
	"strings"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
)

// TestRepl53HalfPromotedNodeFencesEveryShard: a promotion that stored its epoch and
// switched shard 0, then failed to switch shard 1, used to leave shard 0 a primary with
// no lease goroutine (it starts only once every shard switched): nothing renewed the
// grant nor fenced shard 0 when it ran out, so the other node could take the lease while
// shard 0 still took writes. The node must fence every shard instead (serving nothing
// until restarted), say why in Err, and not release the grant (shard 0 may have written
// under its epoch).
func TestRepl53HalfPromotedNodeFencesEveryShard(t *testing.T) {
	primary, standby, witness, messages := startShardedWitnessPair(t)
	raiseShardWhileUnlocked(t, standby, 1, 2)
	primary.Close()
	_, err := promoteOnceGranted(t, standby)
	if err == nil || !strings.Contains(err.Error(), "already at 2") {
		t.Fatalf("set-up: the promotion's error is %v, want shard 1's switch refused", err)
	}
	for index, s := range standby.Shards() {
		if role, epoch := s.RoleAndEpoch(); role != shard.RoleFenced || epoch != 2 {
			t.Fatalf("shard %d is %s at epoch %d after a promotion that failed part way, "+
				"want fenced at epoch 2", index, role, epoch)
		}
	}
	if !errors.Is(err, errPromotionPartWay) {
		t.Fatalf("the promotion's error %v is not errPromotionPartWay", err)
	}
	if nodeErr := standby.Err(); !errors.Is(nodeErr, errPromotionPartWay) {
		t.Fatalf("the node's error is %v, want the part-way failure", nodeErr)
	}
	if messages.count(promotionFailedMessage) != 1 {
		t.Fatalf("%q logged %d times, want once", promotionFailedMessage,
			messages.count(promotionFailedMessage))
	}
	// Shard 0 takes no write: it is refused, or answered not_primary.
	status := standby.Shards()[0].Submit(&backend.Request{Connection: 1, Client: 7,
		Session: 1, Number: 1, Operation: model.OperationCreateAccounts, Body: accounts(1)})
	if status == model.StatusOK {
		if reply, _ := standby.replies.wait(t, 1); reply.Status != model.StatusNotPrimary {
			t.Fatalf("a write to shard 0 of the fenced node: %s, want not_primary",
				reply.Status)
		}
	} else if status != model.StatusNotPrimary {
		t.Fatalf("a write to shard 0 of the fenced node refused with %s, want not_primary",
			status)
	}
	if _, err := standby.Promote(); err == nil {
		t.Fatal("the fenced node was promoted again")
	}
	if releasesReceived(witness) != 0 {
		t.Fatalf("the grant of epoch 2, under which shard 0 switched, was released "+
			"(%d releases reached the witness)", releasesReceived(witness))
	}
	wantWritten(t, "grant not released", probeWritten(t, standby.config.Witness), "b", 2,
		false, 2)
}
