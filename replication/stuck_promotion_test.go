package replication

import (
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestPromotionLeavingTheEpochFileAheadStopsTheNode: a promotion whose StoreEpoch fails
// after its rename, and whose restore of the previous epoch fails too, may have left the
// file at the new epoch. The node must stop (fenced, refusing everything, with the cause
// in Err and logged at Error) instead of following its primary again: restarted, it would
// greet the live primary with the file's epoch and fence it. It used to follow again as
// after any failed promotion. The shards' fence is logged with that reason, not as a
// fence by a higher epoch.
func TestPromotionLeavingTheEpochFileAheadStopsTheNode(t *testing.T) {
	messages := &recordingHandler{}
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standbyConfig := nodeConfig(t.TempDir(), freeAddress(t), primaryAddress)
	standbyConfig.Logger = slog.New(messages)
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)

	failAfterRename(t)
	restoreFailure := errors.New("injected: putting the previous epoch back failed")
	t.Cleanup(func() { restoreFileDurably = wal.WriteFileDurably })
	restoreFileDurably = func(string, os.FileMode, func(*os.File) error) error {
		return restoreFailure
	}
	if epoch, err := standby.Promote(); !errors.Is(err, ErrEpochFileAhead) ||
		!errors.Is(err, restoreFailure) {
		t.Fatalf("promotion with the epoch file left ahead: epoch %d, %v; want "+
			"ErrEpochFileAhead with the restore's cause", epoch, err)
	}
	if role, epoch := standby.Role(), standby.Epoch(); role != shard.RoleFenced || epoch != 1 {
		t.Fatalf("after the promotion that left the epoch file ahead: %s at epoch %d, want "+
			"fenced at epoch 1", role, epoch)
	}
	if err := standby.Err(); !errors.Is(err, ErrEpochFileAhead) {
		t.Fatalf("the stopped node's Err: %v, want ErrEpochFileAhead", err)
	}
	if !messages.loggedAt(slog.LevelError, epochFileAheadMessage) {
		t.Fatal("the stop was not logged at Error")
	}
	if cause, _ := messages.attr(epochFileAheadMessage, "error"); !errors.Is(
		cause.Any().(error), restoreFailure) {
		t.Fatalf("the stop's log gives the cause %v, want the restore's failure", cause)
	}
	// No higher epoch fenced it: the shard's own line must not send an operator looking
	// for one (it used to say "fenced by a higher epoch").
	if messages.loggedAt(slog.LevelWarn, "shard: fenced by a higher epoch") ||
		!messages.loggedAt(slog.LevelWarn, "shard: fenced: "+epochFileAheadFenceReason) {
		t.Fatal("the shard's fence was not logged with the node's reason")
	}
	if address := standby.Shard().PrimaryAddress(); address != primary.config.ClientAddress {
		t.Fatalf("the stopped node redirects to %q, want its primary %q", address,
			primary.config.ClientAddress)
	}
	if _, err := standby.Promote(); err == nil {
		t.Fatal("a stopped node was promoted")
	}
}

// TestBrokenDiskGivesTheWitnessLeaseUp: the witness grants the standby the lease of its
// dead primary, and every promotion fails (the epoch file cannot be stored, for good).
// After failedPromotionsPerGrantMax failures the standby must stop renewing its grant,
// logged at Error, so that the other node, back as a standby that lost its primary, can
// acquire the lease once it runs out. It used to renew it at every retry: the lease
// never ran out, and the pair had no primary until an operator acted.
func TestBrokenDiskGivesTheWitnessLeaseUp(t *testing.T) {
	var messages *recordingHandler
	primary, standby, witness := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		},
		beforeFirstWrite: func(standby *testNode) {
			blockEpochFile(t, standby) // Never unblocked.
		}})
	primary.Close()
	waitFor(t, "the standby's first failed promotion (it holds a grant)", func() bool {
		return messages.logged(automaticFailoverFailedMessage)
	})
	// The old primary, back as a standby that lost its primary (this node is none), asks.
	waitFor(t, "the other node to acquire the lease", func() bool {
		answer, err := askWitness(t.Context(), witness.config.Listener.Addr().String(), nil,
			testKey, leaseAcquire, "a", primary.Epoch(), time.Now().Add(handshakeTimeout))
		return err == nil && answer.granted
	})
	if !messages.loggedAt(slog.LevelError, grantGivenUpMessage) {
		t.Fatal("the standby gave the lease up without saying so at Error")
	}
	if failures, _ := messages.attr(grantGivenUpMessage, "failed_promotions"); failures.Int64() !=
		failedPromotionsPerGrantMax {
		t.Fatalf("the lease was given up after %v failed promotions, want %d", failures,
			failedPromotionsPerGrantMax)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby whose promotions fail is %s", role)
	}
}
