package saga

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// take answers as find then add did, as step 2 used them, over a window that forgets and
// slides past its pages: the same slot, the same decided flag, the same count, pages and
// decisions. TestWindowTake's window never slides (its first page stays at 0), so a take
// that ignored w.first passed it and every other test.
func TestWindowTakeAgainstFindAndAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var took, added window
		steps := rapid.IntRange(1, 300).Draw(t, "steps")
		for step := range steps {
			if rapid.IntRange(0, 5).Draw(t, "action") == 0 {
				// saga_forget: ApplyForget passes only watermarks above the base.
				below := took.base + rapid.Uint64Range(1, 3*windowPage).Draw(t, "forget by")
				took.forget(below)
				added.forget(below)
			} else {
				// Step 2's gates (classifyCredit): at or above the base, within the span.
				sequence := max(took.base, 1) + rapid.Uint64Range(0, 3*windowPage).Draw(t, "above")
				if !took.fits(sequence) {
					t.Fatalf("%d does not fit a window based at %d", sequence, took.base)
				}
				d, decided := took.take(sequence)
				want, had := added.find(sequence)
				if !had {
					want = added.add(sequence)
					want.Status = model.Status(step + 1)
				}
				if decided != had || d.Sequence != sequence {
					t.Fatalf("take(%d): decided %v, slot of %d; find said %v", sequence, decided,
						d.Sequence, had)
				}
				if !decided {
					d.Status = model.Status(step + 1)
				} else if d.Status != want.Status {
					t.Fatalf("take(%d) returned decision %d, find %d", sequence, d.Status, want.Status)
				}
			}
			if took.count != added.count || took.base != added.base || took.first != added.first ||
				len(took.pages) != len(added.pages) {
				t.Fatalf("window %d/%d/%d/%d pages, want %d/%d/%d/%d", took.count, took.base,
					took.first, len(took.pages), added.count, added.base, added.first, len(added.pages))
			}
			if got, want := windowDecisions(&took), windowDecisions(&added); !slices.Equal(got, want) {
				t.Fatalf("decisions %v, want %v", got, want)
			}
		}
	})
}

// windowDecisions lists a window's decisions as (sequence, status) pairs.
func windowDecisions(w *window) [][2]uint64 {
	var decisions [][2]uint64
	w.each(func(d *Decision) { decisions = append(decisions, [2]uint64{d.Sequence, uint64(d.Status)}) })
	return decisions
}
