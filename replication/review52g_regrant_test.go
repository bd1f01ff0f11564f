package replication

import (
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/wal"
)

// TestReview52gGranteeOfTwoGrantsIsPromotedOnceItsDiskIsBack (review-grant52; claim: the
// released case of the stale-node check dropped the holder's own exemption, a liveness
// regression against session 51). The primary a dies; its standby b is granted epoch 2,
// but its first store of the epoch hangs for longer than a lease before it fails (a
// failing disk), so b's next attempt, its lease clock run out, acquires afresh: epoch 3,
// recorded by the witness over the grant of epoch 2, which b never released and which
// therefore counts as written. Its stores of epoch 3 fail at once, and b gives epoch 3 up
// and releases it: the witness's written epoch is 2, above b's epoch (1). Yet both grants
// were b's, and b stored neither: nobody wrote above epoch 1. Until session 51 the check
// exempted the holder (the lease last granted to this node itself), so b, its disk back,
// was promoted by its failover watch; since grant52 the released case compares the
// written epoch alone, and b (like a) waits for an operator for good: the release made
// the pair less available than no release at all. Method: a hook on StoreEpoch's durable
// write for b's epoch file (hang then fail, then fail, then succeed), and b's failover
// watch, which must promote b once the hook lets the write through.
func TestReview52gGranteeOfTwoGrantsIsPromotedOnceItsDiskIsBack(t *testing.T) {
	const (
		passThrough = iota
		hangThenFail
		failAtOnce
	)
	var mode atomic.Int32
	var target atomic.Pointer[string]
	// Installed before any node starts (no goroutine reads it yet), restored after every
	// node of this test closed (cleanups run last registered first).
	t.Cleanup(func() { writeFileDurably = wal.WriteFileDurably })
	writeFileDurably = func(path string, perm os.FileMode, write func(*os.File) error) error {
		if target := target.Load(); target != nil && *target == path {
			switch mode.Load() {
			case hangThenFail:
				mode.Store(failAtOnce)
				time.Sleep(testLeaseDuration + testLeaseDuration/2)
				return errors.New("injected: the disk hung, then failed (review52g)")
			case failAtOnce:
				return errors.New("injected: the disk failed (review52g)")
			}
		}
		return wal.WriteFileDurably(path, perm, write)
	}
	var messages *recordingHandler
	primary, standby, witness := startWitnessPairWith(t, testLeaseDuration, witnessPairOptions{
		newStandbyLogger: func() *slog.Logger {
			messages = &recordingHandler{}
			return slog.New(messages)
		}})
	// Since review2-repl52 b releases its first grant before it acquires afresh: that
	// release is lost on the way here, so that the first grant still counts as written
	// (as after a restart of b between its grants) and the exemption is what promotes b.
	witness.releasesToDrop.Store(1)
	path := standby.config.EpochPath
	target.Store(&path)
	mode.Store(hangThenFail)
	primary.Close()
	waitFor(t, "b to give its second grant up", func() bool {
		return messages.logged(grantGivenUpMessage)
	})
	released, _ := messages.attr(grantGivenUpMessage, "epoch")
	outcome, _ := messages.attr(grantGivenUpMessage, "release")
	if released.Uint64() != 3 || outcome.String() != releaseRecorded {
		t.Fatalf("setup: b gave up epoch %v (release %q), want epoch 3 released", released,
			outcome)
	}
	wantWritten(t, "b's second grant released", probeWritten(t, standby.config.Witness), "b",
		3, true, 2)
	mode.Store(passThrough) // The disk is back.
	waitFor(t, "b's failover watch to decide", func() bool {
		return standby.Role() != shard.RoleStandby || messages.logged(staleStandbyMessage)
	})
	if role := standby.Role(); role != shard.RolePrimary {
		t.Fatalf("b is %s at epoch %d: its failover watch took it for stale on its own "+
			"grant (the witness's written epoch 2, b's first grant, never stored); before "+
			"session 52 the holder's own grant did not count", role, standby.Epoch())
	}
}
