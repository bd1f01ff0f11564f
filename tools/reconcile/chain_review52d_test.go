package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"sequent/wal"
)

// TestChainCheckStandbyFromABaseIsNotAgreement_review52d — review of docs52's agree()
// ("common op is 0: nothing to compare, the nodes cannot disagree"). Claim: the empty
// prefix is not all a node with no verified entry can hold. A standby seeded from a
// snapshot starts its log over after a base (StartAfter: the base op and its chain,
// recorded in the segment header), and its chain there is not the empty chain; until it
// applies an entry its chain check verifies nothing (verified_to_op 0). agree() then
// skipped the comparison and the section passed with "2 node(s)", although that standby's
// base chain may be another history's (here: the primary's chain at op 90 is "aa…", the
// standby's base at op 90 is another chain) and nothing of the primary's log was
// checked on a second disk. Session 52 made the section say "not compared"; since
// session 53 the check reports the base (base_op, base_chain) and the section compares
// it with the primary's chain at op 90: a disagreement, whether the primary verified to
// op 90 itself or beyond it (asked again at op 90).
func TestChainCheckStandbyFromABaseIsNotAgreement_review52d(t *testing.T) {
	standby := startedOverCheck(t, 90, [32]byte{0xbb}) // Not the primary's chain.
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: "aa", WindowCovered: true}
	beyond := primary
	beyond.DurableOp, beyond.VerifiedToOp, beyond.Entries, beyond.ChainLast = 120, 120, 40, "cc"
	want := "disagree on the chain at op 90: aa vs " + standby.BaseChain
	for _, primary := range []wal.ChainCheck{primary, beyond} {
		check := ChainCheck{Addresses: []string{
			fakeNode(t, primary, map[uint64]string{90: "aa"}), fakeNode(t, standby, nil)}}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if section.OK || !strings.Contains(strings.Join(section.Problems, "; "), want) {
			t.Fatalf("a primary verified to op %d and a standby whose log holds only a "+
				"base at op 90 with another chain: ok %v, problems %q; want %q",
				primary.VerifiedToOp, section.OK, section.Problems, want)
		}
	}
}

// TestChainCheckStandbyFromAnAgreeingBase: the same standby started over at op 90, with
// the primary's chain there as its base, agrees with the primary (verified to op 90 or
// beyond it), and the section passes: its chain was compared, on its own disk.
func TestChainCheckStandbyFromAnAgreeingBase(t *testing.T) {
	chain := [32]byte{0xaa, 0x90}
	standby := startedOverCheck(t, 90, chain)
	at90 := standby.BaseChain
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: at90, WindowCovered: true}
	beyond := primary
	beyond.DurableOp, beyond.VerifiedToOp, beyond.Entries, beyond.ChainLast = 120, 120, 40, "cc"
	for _, primary := range []wal.ChainCheck{primary, beyond} {
		check := ChainCheck{Addresses: []string{
			fakeNode(t, primary, map[uint64]string{90: at90}), fakeNode(t, standby, nil)}}
		section, err := check.Run(context.Background())
		if err != nil || !section.OK {
			t.Fatalf("a primary verified to op %d and a standby started over at op 90 "+
				"with the same chain: ok %v, problems %q, err %v", primary.VerifiedToOp,
				section.OK, section.Problems, err)
		}
	}
	// Asked below its base (another node verified less), the standby has no chain there:
	// not compared, and no disagreement.
	behind := primary
	behind.DurableOp, behind.VerifiedToOp, behind.ChainLast = 80, 80, "dd"
	check := ChainCheck{Addresses: []string{fakeNode(t, behind, nil), fakeNode(t, standby, nil)}}
	section, err := check.Run(context.Background())
	problems := strings.Join(section.Problems, "; ")
	if err != nil || section.OK || strings.Contains(problems, "disagree") ||
		!strings.Contains(problems, "its log starts after op 90") {
		t.Fatalf("a node at op 80 and a standby started over at op 90: ok %v, problems %q, "+
			"err %v; want not compared", section.OK, problems, err)
	}
}

// startedOverCheck is the chain check of a real log started over after op with chain,
// with no entry yet (a standby seeded from a snapshot).
func startedOverCheck(t *testing.T, op uint64, chain [32]byte) wal.ChainCheck {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.StartAfter(op, chain); err != nil {
		t.Fatal(err)
	}
	check, err := log.VerifyChain(0, 0, 0, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Since review-chainwin53 it does not cover the window before its base by itself.
	if check.VerifiedToOp != 0 || !check.OK || check.WindowCovered || check.BaseOp != op {
		t.Fatalf("a log started over at op %d: %+v, want nothing verified, the window "+
			"not covered", op, check)
	}
	return check
}

// TestChainCheckCommonOpNotHeldIsNoDisagreement_review52d — review of docs52's agree(),
// the same false report by another path. Claim: the common op (the lowest op every node
// verified to) can lie before a node's retained log — a standby far behind a primary
// that has retired those ops, or one whose log starts over after a base. Asked for its
// chain there, that node answers none, and agree() reported "disagree on the chain at op
// N:  vs bb", a tamper finding for logs that were never compared. The section must fail
// (nothing was compared) but say so, not report a disagreement.
func TestChainCheckCommonOpNotHeldIsNoDisagreement_review52d(t *testing.T) {
	// The window (--from) starts after op 1500, so the retired ops are outside it.
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1500, DurableOp: 2000,
		VerifiedFromOp: 1500, VerifiedToOp: 2000, Entries: 200, ChainLast: "aa",
		WindowCovered: true}
	behind := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 1200, VerifiedFromOp: 1,
		VerifiedToOp: 1200, Entries: 400, ChainLast: "bb", WindowCovered: true}
	for _, order := range [][2]wal.ChainCheck{{primary, behind}, {behind, primary}} {
		check := ChainCheck{From: 1, Addresses: []string{fakeNode(t, order[0], nil),
			fakeNode(t, order[1], nil)}}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(section.Problems, "; ")
		if section.OK || strings.Contains(problems, "disagree") ||
			!strings.Contains(problems, "not compared") {
			t.Errorf("a primary retaining ops 1500..2000 and a standby at op 1200: ok %v, "+
				"problems %q; want not compared, no disagreement", section.OK, problems)
		}
	}
}

// TestChainCheckThirdNodeWithNothingHidesNoDisagreement_review52d — review of docs52's
// agree(). Claim: "common op 0: nothing to compare" took the minimum over all nodes, so
// one node with no verified entry (a standby just started) made the check skip every
// comparison: a primary and a second standby whose chains differ at op 90 (a tampered
// log) passed. The two that hold entries must still be compared.
func TestChainCheckThirdNodeWithNothingHidesNoDisagreement_review52d(t *testing.T) {
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: "aa", WindowCovered: true}
	forged := primary
	forged.ChainLast = "ff"
	empty := wal.ChainCheck{OK: true, WindowCovered: true}
	check := ChainCheck{Addresses: []string{fakeNode(t, primary, nil), fakeNode(t, forged, nil),
		fakeNode(t, empty, nil)}}
	section, err := check.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if section.OK || !strings.Contains(strings.Join(section.Problems, "; "),
		"disagree on the chain at op 90: aa vs ff") {
		t.Fatalf("a primary, a standby with another chain at op 90 and one with nothing: "+
			"ok %v, problems %q; want the disagreement at op 90", section.OK, section.Problems)
	}
}
