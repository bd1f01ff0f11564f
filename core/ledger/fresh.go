package ledger

import (
	"sync/atomic"
	"unsafe"

	"sequent/core/internal/hugepage"
)

// FreshRange is memory the ledger allocated ahead of need and will write soon: the next
// chunk of a storage array, or the table a growing id table will move into. Its bytes
// are zero and stay so until the sequencer writes them; what another goroutine may do
// with the range is fault its pages in (PopulateStep), which changes no byte of it, so
// the ledger's state and results are the same whether, when or how far that happens.
//
// The range keeps its allocation reachable until the populater drops it, so the memory
// it names is never freed or reused while being populated.
type FreshRange struct {
	start unsafe.Pointer // First byte.
	size  uintptr        // Bytes.
	// populated is how many bytes from start are faulted in. Only the goroutine that
	// populates the range writes it (PopulateStep); the sequencer reads it to skip the
	// part of a growing id table it would otherwise fault in itself (idTable.touchNext).
	populated atomic.Uintptr
}

// Populater takes fresh ranges to fault in on another goroutine, before the sequencer
// writes them (the shard runtime owns one; package core starts no goroutine).
//
// Offer is called by the sequencer and must never block or wait: it hands the range over
// or refuses it at once (false), and a refused range is simply faulted in by the
// sequencer's own first writes, as without a populater.
type Populater interface {
	Offer(fresh *FreshRange) bool
}

// newFreshRange returns the range of s's storage (s non-empty).
func newFreshRange[T any](s []T) *FreshRange {
	var zero T
	return &FreshRange{start: unsafe.Pointer(unsafe.SliceData(s)),
		size: uintptr(len(s)) * unsafe.Sizeof(zero)}
}

// Populated returns how many bytes from the range's start are faulted in so far.
func (r *FreshRange) Populated() uintptr { return r.populated.Load() }

// PopulateStep faults in up to stepBytes more of the range, from where the last step
// ended, and reports whether the whole range is done. One goroutine at a time populates a
// range. An error (hugepage.ErrPopulateUnsupported where the kernel cannot do it) leaves
// the rest to be faulted in on first touch; the caller stops populating this range.
func (r *FreshRange) PopulateStep(stepBytes uintptr) (done bool, err error) {
	from := r.populated.Load()
	if from >= r.size {
		return true, nil
	}
	size := min(stepBytes, r.size-from)
	if err := hugepage.Populate(unsafe.Add(r.start, from), size); err != nil {
		return false, err
	}
	r.populated.Store(from + size)
	return from+size == r.size, nil
}

// freshSink is the ledger's link to its Populater (Ledger.SetPopulater), shared by the
// storage arrays and id tables that allocate ahead. Owned by the sequencer.
type freshSink struct {
	populater Populater // Nil: nothing is allocated ahead, nothing offered.
}

// active reports whether a populater is attached.
func (s *freshSink) active() bool { return s != nil && s.populater != nil }

// offer hands fresh to the populater and reports whether it took it.
func (s *freshSink) offer(fresh *FreshRange) bool {
	return s.active() && s.populater.Offer(fresh)
}

// SetPopulater attaches the populater that fresh memory is offered to, or detaches it
// (nil). While one is attached:
//
//   - the arrays a transfer appends to (transfers, their links and pending statuses,
//     balance history) keep their next chunk allocated ahead of need (one spare chunk
//     each, chunkSparesMax) and offer it when it is allocated: when the last chunk is
//     full-sized and a spare is missing (now, at attach time, for the arrays that have
//     one), and again each time a push takes the spare into use;
//   - a growing id table offers the table it will move into when it allocates it (the
//     one it prepares at three eighths load), and faults in on the sequencer only the
//     part the populater has not reached yet (idTable.touchNext).
//
// Nothing else changes: which memory is allocated ahead, and whether or when it is
// populated, is never part of the state, the results, a digest or a snapshot.
func (l *Ledger) SetPopulater(populater Populater) {
	l.fresh.populater = populater
	if populater == nil {
		return
	}
	l.transfers.allocateAheadOfFullChunk()
	l.transferLinks.allocateAheadOfFullChunk()
	l.pending.allocateAheadOfFullChunk()
	l.history.allocateAheadOfFullChunk()
	for _, table := range []*idTable{&l.accountIndex, &l.transferIndex, &l.failedIndex} {
		if table.next != nil && table.nextFresh == nil {
			table.offerNext()
		}
	}
}
