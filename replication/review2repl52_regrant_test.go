package replication

import (
	"log/slog"
	"testing"
	"time"

	"sequent/core/shard"
)

// TestReview2repl52OldPrimaryPromotedAfterTheWitnessWentUnansweredBetweenTwoGrants
// (review2-repl52; claim: the "granted twice in a row" limitation that README's session
// 51 leftovers give for a store that hung past the lease or a restart also follows from a
// witness the grantee could not use for a lease between two failed attempts, with no
// hang and no restart, and then keeps the old primary waiting for good). The primary a
// dies; its standby b is granted epoch 2 and cannot store it (every store fails at once).
// Right after its first failure the witness is one b does not trust for longer than a
// lease (here it serves as a build before session 37, which b's ratchet refuses; a link
// down would do the same): b's probes fail, it attempts nothing, and its grant runs out
// unreleased. Once the witness is back b acquires afresh (epoch 3), fails, gives epoch 3
// up and releases it: the written epoch is 2, which nobody stored. a, restarted as b's
// standby with b gone, holds every acknowledged write, yet its check takes it for stale.
// Fails on main (a stays a standby: "automatic failover will not promote this node").
func TestReview2repl52OldPrimaryPromotedAfterTheWitnessWentUnansweredBetweenTwoGrants(
	t *testing.T) {
	setup := startGivenUpAfter(t, func(w *Witness, messages *recordingHandler) {
		waitFor(t, "b's first failed promotion", func() bool {
			return messages.logged(automaticFailoverFailedMessage)
		})
		w.earlierBuild.Store(true)
		time.Sleep(testLeaseDuration + testLeaseDuration/2)
		w.earlierBuild.Store(false)
	})
	released, _ := setup.messages.attr(grantGivenUpMessage, "epoch")
	outcome, _ := setup.messages.attr(grantGivenUpMessage, "release")
	if released.Uint64() != 3 || outcome.String() != releaseRecorded {
		t.Fatalf("setup: b gave up epoch %v (release %q), want epoch 3 released", released,
			outcome)
	}
	setup.standby.Close()
	old, logged := restartOldPrimary(t, setup.oldConfig, setup.standby.config.Listen)
	waitFor(t, "the old primary's failover watch to decide", func() bool {
		return old.Role() != shard.RoleStandby || logged.logged(staleStandbyMessage)
	})
	if role := old.Role(); role != shard.RolePrimary {
		t.Fatalf("the old primary, which holds every acknowledged write, is %s at epoch %d: "+
			"the witness's written epoch is b's first grant (%+v), never stored, because b "+
			"acquired afresh without releasing it", role, old.Epoch(),
			probeWritten(t, setup.standby.config.Witness))
	}
}

// startGivenUpAfter is startGivenUp, with between run (in the test's goroutine) once a is
// closed, before waiting for b to give a grant up.
func startGivenUpAfter(t *testing.T, between func(*Witness, *recordingHandler)) givenUpSetUp {
	t.Helper()
	var messages *recordingHandler
	primary, standby, witness := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		},
		beforeFirstWrite: func(standby *testNode) { blockEpochFile(t, standby) }})
	setup := givenUpSetUp{oldConfig: primary.config, standby: standby, messages: messages,
		witness: witness, lastOp: primary.Log().LastOp()}
	primary.Close()
	between(witness, messages)
	waitFor(t, "the standby to give its grant up", func() bool {
		return messages.logged(grantGivenUpMessage)
	})
	return setup
}
