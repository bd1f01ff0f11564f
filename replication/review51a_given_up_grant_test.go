package replication

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/core/shard"
)

// TestReview51aOldPrimaryPromotedAfterTheStandbyGaveItsGrantUp (review51a; fixed in
// session 52 by releasing the grant at the witness, grant52): the primary a dies; its standby b is granted the
// lease (epoch 2) but cannot store the epoch (a full disk), gives the grant up after
// failedPromotionsPerGrantMax failures, and is then stopped. b never became a primary and
// wrote nothing: a holds every acknowledged write. a, restarted as b's standby (b
// unreachable: it starts from its own log), used to take the expired lease and promote
// itself; since hunt51a its failover watch saw the witness's epoch (2, last granted to
// b) above its own (1) and never promoted it: the witness could not tell a grant whose
// promotion failed from one whose holder wrote. Now b releases the grant, and the
// witness's written epoch (1) is a's.
func TestReview51aOldPrimaryPromotedAfterTheStandbyGaveItsGrantUp(t *testing.T) {
	var messages *recordingHandler
	primary, standby, _ := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		},
		beforeFirstWrite: func(standby *testNode) { blockEpochFile(t, standby) }})
	config := primary.config
	lastOp := primary.Log().LastOp()
	primary.Close()
	waitFor(t, "the standby to give its grant up", func() bool {
		return messages.logged(grantGivenUpMessage)
	})
	if standby.Role() != shard.RoleStandby || standby.Log().LastOp() != lastOp {
		t.Fatalf("setup: b is %s with its log at op %d, want a standby at op %d",
			standby.Role(), standby.Log().LastOp(), lastOp)
	}
	standby.Close()

	config.Listen, config.StandbyOf = "", standby.config.Listen
	config.PrimaryWaitAtStart = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	old := &testNode{Node: node, replies: newCollector(), config: config}
	node.Start([]shard.Outputs{shard.RepliesOnly(old.replies)})
	defer old.Close()
	waitWithin(t, promptWaitMax, "a, which holds every write, to be promoted", func() bool {
		return old.Role() == shard.RolePrimary
	})
}
