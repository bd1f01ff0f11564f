package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"sequent/wal"
)

// TestChainCheckLoneStartedOverNode_review53c (review of chainwin53, the left-alone note):
// a standby started over from a snapshot at op 90, reconciled alone (no node verified the
// ops up to its base), passed while it held no entry (its empty log reported
// window_covered) and failed "not fully covered" once it applied one: the same node, the
// same missing history. Both states must fail, naming the first op it holds (91), not
// "op 0"; with the primary that verified ops 1..90 and agrees, both states pass (covered
// through the primary's chain).
func TestChainCheckLoneStartedOverNode_review53c(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.StartAfter(90, [32]byte{0xaa, 0x90}); err != nil {
		t.Fatal(err)
	}
	run := func(state string, checks ...wal.ChainCheck) Section {
		check := ChainCheck{}
		for _, c := range checks {
			check.Addresses = append(check.Addresses, fakeNode(t, c, nil))
		}
		section, err := check.Run(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", state, err)
		}
		return section
	}
	verify := func() wal.ChainCheck {
		check, err := log.VerifyChain(0, 0, 0, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return check
	}
	empty := verify()
	primary := wal.ChainCheck{OK: true, RetainedFromOp: 1, DurableOp: 90, VerifiedFromOp: 1,
		VerifiedToOp: 90, Entries: 30, ChainLast: empty.BaseChain, WindowCovered: true}
	emptyPair := run("empty, with the primary", primary, empty)

	if err := log.Append(wal.Entry{Epoch: 1, FirstOp: 91, Count: 1, Timestamp: 5,
		Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for log.Durable() < 91 {
		select {
		case <-log.DurableNotify():
		case <-time.After(time.Minute): // A hang guard, not a timing assertion.
			t.Fatal("op 91 not durable")
		}
	}
	applied := verify()
	for _, c := range []struct {
		state string
		check wal.ChainCheck
	}{{"no entry", empty}, {"one entry", applied}} {
		section := run(c.state, c.check)
		problems := strings.Join(section.Problems, "; ")
		if section.OK || !strings.Contains(problems, "the log before op 91 ") {
			t.Errorf("a lone standby started over at op 90, %s: ok %v, problems %q; want "+
				"the window before op 91 not covered", c.state, section.OK, problems)
		}
	}
	primary.DurableOp, primary.VerifiedToOp, primary.ChainLast = 91, 91, applied.ChainLast
	appliedPair := run("one entry, with the primary", primary, applied)
	if !emptyPair.OK || !appliedPair.OK {
		t.Errorf("with the agreeing primary: no entry ok %v %q, one entry ok %v %q",
			emptyPair.OK, emptyPair.Problems, appliedPair.OK, appliedPair.Problems)
	}
}
