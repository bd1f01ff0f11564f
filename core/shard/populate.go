package shard

import (
	"errors"
	"sync/atomic"

	"sequent/core/internal/hugepage"
	"sequent/core/ledger"
)

// populater faults in, on a goroutine of its own, the fresh memory the ledger allocates
// ahead of the sequencer's writes (ledger.Populater: the next chunk of transfer storage,
// a growing id table's successor), so that the sequencer does not take those page faults
// itself (doc.go, "Fresh memory").
//
// The hand-off is bounded and never waits: Offer puts the range in a channel of
// freshRangesQueuedMax or refuses it at once, and a refused range faults in on the
// sequencer's first writes, as with no populater. The populater changes no byte of the
// memory (hugepage.Populate), so nothing it does or fails to do shows in the state.
type populater struct {
	ranges chan *ledger.FreshRange // Offered, not yet taken by the goroutine.
	stop   chan struct{}           // Closed by stopAndWait.
	done   chan struct{}           // Closed when the goroutine has returned.
	// step populates the next part of a range (FreshRange.PopulateStep with
	// populateStepBytes); tests replace it with a slow or stuck one.
	step func(fresh *ledger.FreshRange) (done bool, err error)
	// unsupported is set once the kernel refuses to populate (older than Linux 5.14):
	// Offer refuses everything from then on, so the sequencer faults memory in itself.
	unsupported atomic.Bool

	// Counters, read by tests: ranges offered, refused (queue full, or unsupported), and
	// populated to the end.
	offered   atomic.Uint64
	refused   atomic.Uint64
	populated atomic.Uint64
}

var _ ledger.Populater = (*populater)(nil)

// newPopulater returns a populater whose goroutine is not started yet (start).
func newPopulater() *populater {
	return &populater{
		ranges: make(chan *ledger.FreshRange, freshRangesQueuedMax),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		step: func(fresh *ledger.FreshRange) (bool, error) {
			return fresh.PopulateStep(populateStepBytes)
		},
	}
}

// Offer queues fresh for the goroutine, or refuses it at once when the queue is full or
// the kernel cannot populate (ledger.Populater). Called by the sequencer.
func (p *populater) Offer(fresh *ledger.FreshRange) bool {
	p.offered.Add(1)
	if !p.unsupported.Load() {
		select {
		case p.ranges <- fresh:
			return true
		default:
		}
	}
	p.refused.Add(1)
	return false
}

// start runs the goroutine.
func (p *populater) start() { go p.run() }

// run populates the offered ranges in order until stopped.
func (p *populater) run() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case fresh := <-p.ranges:
			if !p.populate(fresh) {
				return
			}
		}
	}
}

// populate faults fresh in step by step and reports whether to go on (false once
// stopped). Between steps it checks for the stop, so stopping waits for one step at most.
func (p *populater) populate(fresh *ledger.FreshRange) bool {
	if p.unsupported.Load() {
		return true // Queued before the kernel refused: dropped.
	}
	for {
		select {
		case <-p.stop:
			return false
		default:
		}
		done, err := p.step(fresh)
		if errors.Is(err, hugepage.ErrPopulateUnsupported) {
			p.unsupported.Store(true)
			return true // The rest of the queue is dropped as it comes: step refuses it.
		}
		if err != nil {
			return true // This range faults in on first touch; later ones may still work.
		}
		if done {
			p.populated.Add(1)
			return true
		}
	}
}

// stopAndWait stops the started goroutine and waits until it has returned (after the
// step it is in, if any).
func (p *populater) stopAndWait() {
	close(p.stop)
	<-p.done
}

// stopPopulater detaches the populater from the ledger and stops its goroutine, as the
// sequencer stops (it holds the machine then): Done closes only after both.
func (s *Shard) stopPopulater() {
	if s.populater == nil {
		return
	}
	s.machine.Ledger().SetPopulater(nil)
	s.populater.stopAndWait()
}
