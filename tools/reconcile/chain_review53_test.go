package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestChainCheckReaskCutShortIsNoDisagreement_review53 (review of wal53, claim 2, message
// texts): agree() asks a node that verified beyond the common op again for its chain
// there, a second walk of its log under the server's time limit. A second walk cut short
// before that op (Truncated, no anchor chain) was reported as a disagreement, "disagree
// on the chain at op 90: aa vs " — an accusation of another history where nothing was
// compared. It must say the walk was cut short and not call it a disagreement.
func TestChainCheckReaskCutShortIsNoDisagreement_review53(t *testing.T) {
	behind := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: "aa", WindowCovered: true}
	ahead := behind
	ahead.DurableOp, ahead.VerifiedToOp, ahead.Entries, ahead.ChainLast = 120, 120, 40, "cc"
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := ahead
		if r.URL.Query().Get("anchor_op") != "" { // The second walk: out of time at op 60.
			answer.Truncated, answer.VerifiedToOp, answer.ChainLast = true, 60, "60"
			answer.AnchorOp, _ = strconv.ParseUint(r.URL.Query().Get("anchor_op"), 10, 64)
		}
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(server.Close)
	check := ChainCheck{Addresses: []string{fakeNode(t, behind, nil), server.URL}}
	section, err := check.Run(context.Background())
	problems := strings.Join(section.Problems, "; ")
	if err != nil || section.OK || strings.Contains(problems, "disagree") ||
		!strings.Contains(problems, "time limit") {
		t.Fatalf("a node whose second walk was cut short before op 90: ok %v, problems %q, "+
			"err %v; want no disagreement, the time limit named", section.OK, problems, err)
	}
}
