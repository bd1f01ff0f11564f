package ledger

import (
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
)

// review53bScratch is a copy of the scratch's per-event stores (everything the stages
// write that a later stage or the apply reads; the addresses are only prefetched).
type review53bScratch struct {
	debitHash, creditHash, transferHash []uint64
	debitIndex, creditIndex             []uint32
	accounts                            []accountPair
}

func review53bSave(s *batchScratch) review53bScratch {
	return review53bScratch{slices.Clone(s.debitHash), slices.Clone(s.creditHash),
		slices.Clone(s.transferHash), slices.Clone(s.debitIndex), slices.Clone(s.creditIndex),
		slices.Clone(s.accounts)}
}

func review53bRestore(s *batchScratch, saved review53bScratch) {
	copy(s.debitHash, saved.debitHash)
	copy(s.creditHash, saved.creditHash)
	copy(s.transferHash, saved.transferHash)
	copy(s.debitIndex, saved.debitIndex)
	copy(s.creditIndex, saved.creditIndex)
	copy(s.accounts, saved.accounts)
}

// review53bSame reports the first difference of two saved scratches ("" when none).
func review53bSame(a, b review53bScratch) string {
	for _, c := range []struct {
		name  string
		equal bool
	}{{"debitHash", slices.Equal(a.debitHash, b.debitHash)},
		{"creditHash", slices.Equal(a.creditHash, b.creditHash)},
		{"transferHash", slices.Equal(a.transferHash, b.transferHash)},
		{"debitIndex", slices.Equal(a.debitIndex, b.debitIndex)},
		{"creditIndex", slices.Equal(a.creditIndex, b.creditIndex)},
		{"accounts", slices.Equal(a.accounts, b.accounts)}} {
		if !c.equal {
			return c.name
		}
	}
	return ""
}

// TestReview53bStepStagesStoreAsGeneral checks ledger53b's claim "the same stores in the
// same places" stage by stage, where the results alone cannot: a wrong candidate or
// record left by the records stage is set right by the confirm stage, so a step stage
// storing the debit's record as the credit's passes every results test (mutation
// checked in review-ledger53b). For each step position (any offset, not only multiples
// of 4) of batches with colliding tags, ids never created and a migrating account table,
// as the system, the owner and a grantee, with rules on and off: each specialised stage
// run from the same scratch as its general stage (prefetchSlotsIn, prefetchRecordsIn,
// confirmAccounts for 4 events) must leave the whole scratch exactly as it does.
func TestReview53bStepStagesStoreAsGeneral(t *testing.T) {
	for n, scenario := range []struct {
		accounts int
		rules    bool
	}{{12, false}, {40, true}, {520, true}} {
		t.Run(fmt.Sprintf("accounts=%d/rules=%t", scenario.accounts, scenario.rules),
			func(t *testing.T) {
				d := newPipelineDiff(t, uint64(5353+n), scenario.accounts, scenario.rules, false)
				vary := review53Vary(d, review53Collisions(d))
				if scenario.accounts == 520 && d.pipe.accountIndex.old == nil {
					t.Fatal("the account table is not migrating: the scenario misses its case")
				}
				l, s := d.pipe, &d.pipe.batch
				slow := 0
				for round := range 6 {
					_, events := d.batch(64, vary)
					client := []uint64{0, pipelineDiffOwner, pipelineDiffGrantee}[round%3]
					l.actAs(client)
					if l.riskActive() {
						l.risk.Begin(client)
					}
					for p := 0; p+fullStepEvents <= len(events); p++ {
						label := fmt.Sprintf("round %d as %d, step at %d", round, client, p)
						step := (*[fullStepEvents]model.Transfer)(events[p:])
						before := review53bSave(s)
						l.prefetchSlotsIn(events, p, p+fullStepEvents)
						general := review53bSave(s)
						review53bRestore(s, before)
						l.prefetchSlotsStep(step, p)
						if diff := review53bSame(general, review53bSave(s)); diff != "" {
							t.Fatalf("%s: prefetchSlotsStep's %s differs", label, diff)
						}
						before = review53bSave(s)
						l.prefetchRecordsIn(events, p, p+fullStepEvents)
						general = review53bSave(s)
						review53bRestore(s, before)
						l.prefetchRecordsStep(step, p)
						if diff := review53bSame(general, review53bSave(s)); diff != "" {
							t.Fatalf("%s: prefetchRecordsStep's %s differs", label, diff)
						}
						before = review53bSave(s)
						l.confirmAccounts(events[p:p+fullStepEvents], p)
						general = review53bSave(s)
						if review53bSame(before, general) != "" {
							slow++ // The confirm stage's slow path ran.
						}
						review53bRestore(s, before)
						l.confirmAccountsStep(step, p)
						if diff := review53bSame(general, review53bSave(s)); diff != "" {
							t.Fatalf("%s: confirmAccountsStep's %s differs", label, diff)
						}
					}
				}
				if slow == 0 {
					t.Fatal("no step took the confirm stage's slow path: the inputs miss its case")
				}
			})
	}
}

// TestReview53bSteadyHandOver runs every batch length from the shortest pipelined one
// to 64, and 8180 to the largest, once for each caller, against the two-phase
// reference (review-ledger53b: the hand-over from pipelineSteadySteps to the general
// loop at every position of the last steps relative to the 4/8/12 distances;
// TestReview53PipelineProperty draws its lengths from a list without 24, 28, 32, ...).
func TestReview53bSteadyHandOver(t *testing.T) {
	var lengths []int
	for count := shortBatchEventsMax + 1; count <= 64; count++ {
		lengths = append(lengths, count)
	}
	if !testing.Short() {
		for count := 8180; count <= model.EventsPerRequestMax; count++ {
			lengths = append(lengths, count)
		}
	}
	for n, events := range []bool{false, true} {
		t.Run(fmt.Sprintf("events=%t", events), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(5380+n), 40, true, events)
			vary := review53Vary(d, review53Collisions(d))
			for _, count := range lengths {
				for _, client := range []uint64{0, pipelineDiffOwner, pipelineDiffGrantee} {
					kind, batch := d.batch(count, vary)
					d.apply(fmt.Sprintf("length %d as %d", count, client), kind, batch,
						client, d.random.IntN(2) == 0)
				}
			}
		})
	}
}
