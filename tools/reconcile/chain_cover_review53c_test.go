package reconcile

import (
	"context"
	"strings"
	"testing"

	"sequent/wal"
)

// TestChainCheckCoverOrderAndVerifier_review53c (review of chainwin53; claims checked and
// found to hold, kept as regressions). Transitive coverage (A covers B, B covers C) cannot
// arise: cover takes as verifier only a node whose own walk covers the window
// (WindowCovered, never WindowCoveredBy), and if A's verified range starts at or before
// B's base and B's at or before C's, A's starts before C's, so A covers C directly. What
// remains: the verdict does not depend on the order of the nodes (b covered through a, c
// whose base lies before a's first verified op uncovered, in any order), and a verifier
// whose own walk found a problem covers no one.
func TestChainCheckCoverOrderAndVerifier_review53c(t *testing.T) {
	a := wal.ChainCheck{OK: true, RetainedFromOp: 300, DurableOp: 900, VerifiedFromOp: 300,
		VerifiedToOp: 900, Entries: 200, ChainLast: "cc", WindowCovered: true,
		BaseOp: 299, BaseChain: "29"}
	b := wal.ChainCheck{OK: true, RetainedFromOp: 500, DurableOp: 900, VerifiedFromOp: 500,
		VerifiedToOp: 900, Entries: 130, ChainLast: "cc", BaseOp: 499, BaseChain: "49"}
	c := wal.ChainCheck{OK: true, RetainedFromOp: 200, DurableOp: 900, VerifiedFromOp: 200,
		VerifiedToOp: 900, Entries: 230, ChainLast: "cc", BaseOp: 199, BaseChain: "19"}
	run := func(name string, checks []wal.ChainCheck, covered, uncovered []string) {
		check := ChainCheck{}
		for _, node := range checks {
			check.Addresses = append(check.Addresses, fakeNode(t, node, nil))
		}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(section.Problems, "; ")
		for _, want := range uncovered {
			if !strings.Contains(problems, "the log before op "+want+" ") {
				t.Errorf("%s: problems %q, want op %s's node uncovered", name, problems, want)
			}
		}
		var by []string
		for _, node := range section.Details.([]ChainNode) {
			if node.WindowCoveredBy != "" {
				by = append(by, node.WindowCoveredBy)
			}
		}
		if len(by) != len(covered) {
			t.Errorf("%s: covered %q, want %d", name, by, len(covered))
		}
		for i := range min(len(by), len(covered)) {
			if !strings.HasPrefix(by[i], "its log starts after op "+covered[i]+";") {
				t.Errorf("%s: covered %q, want base %s", name, by, covered[i])
			}
		}
	}
	run("a, b, c", []wal.ChainCheck{a, b, c}, []string{"499"}, []string{"200"})
	run("c, b, a", []wal.ChainCheck{c, b, a}, []string{"499"}, []string{"200"})
	run("b, c, a", []wal.ChainCheck{b, c, a}, []string{"499"}, []string{"200"})
	damaged := a
	damaged.OK, damaged.Problem = false, "op 700: chain hash does not match"
	run("a damaged verifier", []wal.ChainCheck{damaged, b}, nil, []string{"500"})
}
