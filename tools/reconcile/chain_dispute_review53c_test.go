package reconcile

import (
	"context"
	"strings"
	"testing"

	"sequent/wal"
)

// TestChainCheckNoCoverThroughADisputedChain_review53c (review of chainwin53). Claim: cover
// says "a node that ... disagrees ... stays uncovered", and the merge's own test holds
// that a failed section claims no coverage; but agree() compares every node with the
// first one only, and cover() then accepts any other node with an equal chain as the
// verifier. With three nodes, X (verified ops 1..900, chain dd), R (its log starts after
// op 499, chain cc) and V (verified 1..900, chain cc), the section reports "X and R
// disagree" and "X and V disagree" and yet marks R's window covered through V, whose chain
// is the disputed one: nothing says whether X or V holds the true history, so V's chain
// proves nothing about R's missing prefix. The section must report R's prefix as not
// covered, whatever the order of the nodes.
func TestChainCheckNoCoverThroughADisputedChain_review53c(t *testing.T) {
	x := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 900, VerifiedFromOp: 1,
		VerifiedToOp: 900, Entries: 300, ChainLast: "dd", WindowCovered: true}
	v := x
	v.ChainLast = "cc"
	r := wal.ChainCheck{OK: true, RetainedFromOp: 500, DurableOp: 900, VerifiedFromOp: 500,
		VerifiedToOp: 900, Entries: 150, ChainBefore: "b4", ChainLast: "cc", BaseOp: 499,
		BaseChain: "b4", FirstTimestamp: 50}
	for _, order := range [][]wal.ChainCheck{{x, r, v}, {r, v, x}, {v, x, r}} {
		check := ChainCheck{}
		for _, node := range order {
			check.Addresses = append(check.Addresses, fakeNode(t, node, nil))
		}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(section.Problems, "; ")
		if section.OK || !strings.Contains(problems, "disagree") ||
			!strings.Contains(problems, "the log before op 500 ") {
			t.Errorf("ok %v, problems %q; want a disagreement and op 500's node uncovered",
				section.OK, problems)
		}
		for _, node := range section.Details.([]ChainNode) {
			if node.WindowCoveredBy != "" {
				t.Errorf("%s covered through a disputed chain: %q", node.Address,
					node.WindowCoveredBy)
			}
		}
	}
}
