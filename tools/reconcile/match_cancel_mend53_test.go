package reconcile

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// cancelAfter is an iterator that ends the run's context at its calls-th next().
type cancelAfter struct {
	memoryIterator
	calls  int
	cancel context.CancelFunc
}

func (c *cancelAfter) next() (*entry, bool, error) {
	if c.calls--; c.calls == 0 {
		c.cancel()
	}
	return c.memoryIterator.next()
}

// TestMend53MergeStopsWhenCancelled: the merge looks at the run's context (an interrupt or
// --timeout) every contextCheckEvery references, and every contextCheckEvery payments
// without a reference, and stops with its cause. The run-level cancel tests end the
// statement's reading first, so nothing else fails when the merge's looks are removed.
func TestMend53MergeStopsWhenCancelled(t *testing.T) {
	ledgers, _ := clearing.NewLedgers(nil)
	for _, referenced := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		var ours []entry
		for i := range 2 * contextCheckEvery {
			var key model.Uint128 // None: each payment is decided on its own.
			if referenced {
				key = model.U128(uint64(i + 1))
			}
			ours = append(ours, entry{key: key, origin: model.U128(uint64(i + 1)),
				amount: model.U128(1), side: sideDebit, kind: kindSingle, ledger: 1})
		}
		summary := Summary{Differences: map[string]int{}}
		// Cancelled at the second next(): after the merge's first look at the context.
		m := &merger{ctx: ctx, theirs: &memoryIterator{},
			ours: &cancelAfter{memoryIterator{entries: ours}, 2, cancel},
			sink: newSink(&summary, 100, nil, nil), summary: &summary, ledgers: ledgers,
			account: clearing.LedgerInfo{Ledger: 1}}
		if err := m.run(); !errors.Is(err, context.Canceled) {
			t.Errorf("referenced %v: a merge whose context ended: %v; want context.Canceled",
				referenced, err)
		}
		cancel()
	}
}
