package wal

import (
	"testing"
	"time"
)

// TestVerifyChainEmptyStartedOverLogDoesNotCoverTheWindow_review53c (review of
// chainwin53, the left-alone note on VerifyChain's empty-log branch). Claim: a log started
// over after a base (a standby seeded from a snapshot at op 90) with no entry yet reported
// WindowCovered ("nothing was retired"), while the same log with one entry after the base
// reports it not covered (its first entry's timestamp is after the window's start): the
// ops up to the base are missing from both. A lone started-over node reconciled alone
// then passed while empty and failed after its first entry. An empty log that starts
// after a base must not claim a window it holds nothing of; an empty log from op 1 (no
// base: nothing was ever retired or skipped) still covers it.
func TestVerifyChainEmptyStartedOverLogDoesNotCoverTheWindow_review53c(t *testing.T) {
	future := time.Now().Add(time.Hour)
	l := openTest(t, t.TempDir())
	defer l.Close()
	if err := l.StartAfter(90, [32]byte{0xbb, 9}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 5} {
		check, err := l.VerifyChain(from, 0, 0, future)
		if err != nil || !check.OK || check.BaseOp != 90 || check.WindowCovered {
			t.Fatalf("started over at op 90, no entry, window from %d: %+v, %v; want the "+
				"window not covered", from, check, err)
		}
	}
	waitDurable(t, l, appendEntries(t, l, 1))
	check, err := l.VerifyChain(0, 0, 0, future)
	if err != nil || !check.OK || check.BaseOp != 90 || check.WindowCovered {
		t.Fatalf("started over at op 90, one entry: %+v, %v; want the window not covered",
			check, err)
	}

	fresh := openTest(t, t.TempDir())
	defer fresh.Close()
	check, err = fresh.VerifyChain(5, 0, 0, future)
	if err != nil || !check.OK || check.BaseOp != 0 || !check.WindowCovered {
		t.Fatalf("an empty log from op 1: %+v, %v; want the window covered", check, err)
	}
}
