package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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

// firstTimeHandler is a slog handler that records when it first saw a message after
// forget (the monotonic clock: time.Now when the record is handled).
type firstTimeHandler struct {
	mutex sync.Mutex
	first map[string]time.Time
}

func (h *firstTimeHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *firstTimeHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *firstTimeHandler) WithGroup(string) slog.Handler            { return h }
func (h *firstTimeHandler) Handle(_ context.Context, record slog.Record) error {
	now := time.Now()
	h.mutex.Lock()
	defer h.mutex.Unlock()
	if _, seen := h.first[record.Message]; !seen {
		h.first[record.Message] = now
	}
	return nil
}

// forget drops what was recorded so far.
func (h *firstTimeHandler) forget() {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	h.first = map[string]time.Time{}
}

// firstSeen returns when message was first handled since forget.
func (h *firstTimeHandler) firstSeen(message string) (time.Time, bool) {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	at, seen := h.first[message]
	return at, seen
}

// TestGrantGivenUpByAManualPromotionHoldsTheWatchOff: the standby gives its witness grant
// up after failedPromotionsPerGrantMax failed promotions, and must then ask the witness
// nothing for releasedGrantHoldOffLeases leases, whoever made the last attempt: the
// failover watch or an operator's Promote (both count towards the limit). Otherwise the
// other node, back and waiting for the grant to run out, races this one for it, and the
// broken node wins it again (a new epoch burnt, the lease kept from the other node for
// two more leases). The hold-off used to be the watch's own: after a manual give-up, the
// watch acquired afresh as soon as the grant ran out, within about a lease.
//
// Not a timing assertion: the hold-off is a lower bound set before Promote returns, so
// the watch's next attempt cannot come earlier however the machine is loaded (a starved
// test only makes it pass on the old code too). The primary uses no witness, so that the
// watch, hearing it, stays out of the manual attempts until it is closed.
func TestGrantGivenUpByAManualPromotionHoldsTheWatchOff(t *testing.T) {
	lease := testLeaseDuration
	_, witnessAddress := startTestWitness(t, lease)
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	messages := &firstTimeHandler{first: map[string]time.Time{}}
	standbyConfig := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		witnessAddress, lease)
	standbyConfig.Logger = slog.New(messages)
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	blockEpochFile(t, standby) // Never unblocked.

	var lastAttempt time.Time // Before the attempt that gave the grant up.
	deadline := time.Now().Add(waitMax)
	for givenUp := false; !givenUp; {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a manual promotion to give the grant up")
		}
		lastAttempt = time.Now()
		_, err := standby.Promote()
		givenUp = errors.As(err, new(grantGivenUpError))
		if !givenUp {
			time.Sleep(10 * time.Millisecond)
		}
	}
	messages.forget()
	primary.Close() // The watch now finds its primary lost.
	waitFor(t, "the failover watch's next attempt", func() bool {
		_, seen := messages.firstSeen(automaticFailoverFailedMessage)
		return seen
	})
	attempt, _ := messages.firstSeen(automaticFailoverFailedMessage)
	if held := attempt.Sub(lastAttempt); held < releasedGrantHoldOffLeases*lease {
		t.Fatalf("the failover watch was granted the lease again %v after the manual "+
			"promotion that gave it up, want at least %v", held,
			releasedGrantHoldOffLeases*lease)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby whose promotions fail is %s", role)
	}
}
