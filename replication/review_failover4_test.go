package replication

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestStoppedStandbyPromotedWithTheEpochFileAheadSaysSo: a standby that had already
// stopped following (here a resync it needs, recorded as its failure) is the one an
// operator promotes by hand once its primary is lost (the failover watch leaves it to
// them). If that promotion leaves the epoch file ahead of the node, Err and the status
// must say so: it is what the operator must check before restarting the node, or the
// restarted node greets its primary with the file's epoch and fences it. The node used
// to keep only its first failure, so Err and the status told of the resync alone.
func TestStoppedStandbyPromotedWithTheEpochFileAheadSaysSo(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), primaryAddress))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	earlier := fmt.Errorf("%w (shard 0: injected)", ErrResyncNeeded)
	standby.fail(earlier) // What a follower that stopped for good records.

	failAfterRename(t)
	restoreFailure := errors.New("injected: putting the previous epoch back failed")
	t.Cleanup(func() { restoreFileDurably = wal.WriteFileDurably })
	restoreFileDurably = func(string, os.FileMode, func(*os.File) error) error {
		return restoreFailure
	}
	if _, err := standby.Promote(); !errors.Is(err, ErrEpochFileAhead) {
		t.Fatalf("promotion with the epoch file left ahead: %v, want ErrEpochFileAhead", err)
	}
	if role := standby.Role(); role != shard.RoleFenced {
		t.Fatalf("after the promotion that left the epoch file ahead: %s, want fenced", role)
	}
	if err := standby.Err(); !errors.Is(err, ErrEpochFileAhead) || !errors.Is(err, earlier) {
		t.Fatalf("the stopped node's Err: %v; want ErrEpochFileAhead and the earlier failure",
			err)
	}
	if failure := standby.Status().Failure; !strings.Contains(failure,
		ErrEpochFileAhead.Error()) {
		t.Fatalf("the stopped node's status gives the failure %q, not the epoch file ahead",
			failure)
	}
}
