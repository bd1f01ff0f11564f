package reconcile

import (
	"context"
	"strings"
	"testing"

	"sequent/wal"
)

// TestChainCheckSummaryOfAStartedOverStandby_review53 (review of wal53, claim 2, message
// texts): since session 53 a section whose first node is a standby started over from a
// snapshot (no entry yet, a base at op 90) passes when its base agrees with the primary;
// its summary was built from that node's verified range alone, "ops 0..0 verified (0
// entries, 0 in the window), chain at op 0: " — a passing report that names no chain
// (the README's anchors are a past report's op and chain). The summary must name the op
// and chain the node holds, its base.
func TestChainCheckSummaryOfAStartedOverStandby_review53(t *testing.T) {
	standby := startedOverCheck(t, 90, [32]byte{0xaa, 0x90})
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: standby.BaseChain, WindowCovered: true}
	check := ChainCheck{Addresses: []string{fakeNode(t, standby, nil),
		fakeNode(t, primary, nil)}}
	section, err := check.Run(context.Background())
	if err != nil || !section.OK {
		t.Fatalf("a standby started over at op 90 agreeing with the primary: ok %v, "+
			"problems %q, err %v", section.OK, section.Problems, err)
	}
	want := "op 90: " + standby.BaseChain
	if !strings.Contains(section.Summary, want) || strings.Contains(section.Summary, "op 0:") {
		t.Fatalf("summary %q; want it to name the base's chain (%q)", section.Summary, want)
	}
}
