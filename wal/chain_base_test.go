package wal

import (
	"encoding/hex"
	"testing"
	"time"
)

// TestVerifyChainReportsTheBase: a log started over after a base (a standby seeded from a
// snapshot at op 90) verifies no entry, but its chain check reports the base's op and
// chain, and answers an anchor at that op with it, before and after a reopen (the base
// then comes from the segment header) and once entries follow it (the first entry's
// link); a log that starts at op 1 reports no base. Reconciliation compares a
// started-over standby's chain with the other nodes' through these fields.
func TestVerifyChainReportsTheBase(t *testing.T) {
	dir := t.TempDir()
	base := [32]byte{0xbb, 1, 2, 3}
	want := hex.EncodeToString(base[:])
	future := time.Now().Add(time.Hour)
	l := openTest(t, dir)
	if err := l.StartAfter(90, base); err != nil {
		t.Fatal(err)
	}
	check, err := l.VerifyChain(0, 0, 90, future)
	if err != nil || !check.OK || check.VerifiedToOp != 0 || check.BaseOp != 90 ||
		check.BaseChain != want || check.AnchorChain != want {
		t.Fatalf("started over at op 90: %+v, %v", check, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, dir)
	defer l.Close()
	check, err = l.VerifyChain(0, 0, 89, future)
	if err != nil || check.BaseOp != 90 || check.BaseChain != want || check.AnchorChain != "" {
		t.Fatalf("reopened before its first entry: %+v, %v", check, err)
	}
	last := appendEntries(t, l, 3)
	waitDurable(t, l, last)
	check, err = l.VerifyChain(0, 0, 90, future)
	if err != nil || !check.OK || check.Entries != 3 || check.VerifiedFromOp != 91 ||
		check.BaseOp != 90 || check.BaseChain != want || check.AnchorChain != want {
		t.Fatalf("three entries after the base: %+v, %v", check, err)
	}

	fresh := openTest(t, t.TempDir())
	defer fresh.Close()
	waitDurable(t, fresh, appendEntries(t, fresh, 2))
	check, err = fresh.VerifyChain(0, 0, 0, future)
	if err != nil || check.BaseOp != 0 || check.BaseChain != "" {
		t.Fatalf("a log from op 1: %+v, %v", check, err)
	}
}
