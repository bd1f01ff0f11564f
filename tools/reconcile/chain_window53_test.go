package reconcile

import (
	"context"
	"strings"
	"testing"

	"sequent/wal"
)

// TestChainCheckMissingPrefixCoveredByAgreement: a node whose log lacks the window's
// prefix (here retired up to op 499; a log started over after op 499 reports the same)
// is covered when its chain agrees with a node that verified that prefix itself, and the
// report says through whose chain at which op; it stays "retired" when the chains differ,
// cannot be compared, or no node that verified the prefix agrees (the agreeing node's
// own log lacks it, or holds only a base).
func TestChainCheckMissingPrefixCoveredByAgreement(t *testing.T) {
	full := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 900, VerifiedFromOp: 1,
		VerifiedToOp: 900, Entries: 300, ChainLast: "cc", WindowCovered: true}
	retired := wal.ChainCheck{OK: true, RetainedFromOp: 500, DurableOp: 900,
		VerifiedFromOp: 500, VerifiedToOp: 900, Entries: 150, ChainBefore: "b4",
		ChainLast: "cc", BaseOp: 499, BaseChain: "b4", FirstTimestamp: 50}
	forged := retired
	forged.ChainLast = "ff"
	lacking := full // Agrees, but its own log lacks the prefix too.
	lacking.RetainedFromOp, lacking.VerifiedFromOp, lacking.BaseOp = 300, 300, 299
	lacking.WindowCovered = false
	late := full // Verified from after the retired node's base (not the prefix).
	late.RetainedFromOp, late.VerifiedFromOp = 700, 700
	short := full // Verified only up to op 400: the retired node holds no chain there.
	short.DurableOp, short.VerifiedToOp, short.ChainLast = 400, 400, "44"
	empty := wal.ChainCheck{OK: true, RetainedFromOp: 0, DurableOp: 600, BaseOp: 600,
		BaseChain: "60", WindowCovered: true} // Started over at op 600: verified nothing.
	cases := []struct {
		name    string
		nodes   []wal.ChainCheck
		chainAt map[uint64]string // Every node's chains when asked again.
		want    []string          // In the problems; none: the section passes.
	}{
		{"agrees with a node that verified the prefix", []wal.ChainCheck{full, retired},
			nil, nil},
		{"the same, listed first", []wal.ChainCheck{retired, full}, nil, nil},
		{"disagrees", []wal.ChainCheck{full, forged}, nil,
			[]string{"before op 500 was retired", "disagree on the chain at op 900"}},
		{"not compared", []wal.ChainCheck{short, retired}, nil,
			[]string{"before op 500 was retired", "not compared"}},
		{"the agreeing node lacks the prefix too", []wal.ChainCheck{lacking, retired}, nil,
			[]string{"before op 500 was retired", "before op 300 was retired"}},
		{"the agreeing node verified from after the base", []wal.ChainCheck{late, retired},
			nil, []string{"before op 500 was retired"}},
		{"the agreeing node holds only a base", []wal.ChainCheck{empty, retired},
			map[uint64]string{600: "60"}, []string{"before op 500 was retired"}},
	}
	for _, c := range cases {
		check := ChainCheck{}
		for _, node := range c.nodes {
			check.Addresses = append(check.Addresses, fakeNode(t, node, c.chainAt))
		}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(section.Problems, "; ")
		if section.OK != (len(c.want) == 0) {
			t.Errorf("%s: ok %v, problems %q", c.name, section.OK, problems)
		}
		for _, want := range c.want {
			if !strings.Contains(problems, want) {
				t.Errorf("%s: problems %q, want %q", c.name, problems, want)
			}
		}
		var covered []string
		for _, node := range section.Details.([]ChainNode) {
			if node.WindowCoveredBy != "" {
				covered = append(covered, node.WindowCoveredBy)
			}
		}
		if len(c.want) != 0 {
			if len(covered) != 0 {
				t.Errorf("%s: a failed section claims coverage %q", c.name, covered)
			}
			continue
		}
		// The report says what was done: whose chain, at which op, over which ops.
		verifier := check.Addresses[0]
		if !c.nodes[0].WindowCovered {
			verifier = check.Addresses[1]
		}
		want := "its log starts after op 499; the window before it is covered through " +
			verifier + "'s chain at op 900, equal to this node's, which that node verified " +
			"over ops 1..900"
		if len(covered) != 1 || covered[0] != want || !strings.Contains(section.Summary, want) {
			t.Errorf("%s: covered %q, summary %q; want %q", c.name, covered,
				section.Summary, want)
		}
	}
}
