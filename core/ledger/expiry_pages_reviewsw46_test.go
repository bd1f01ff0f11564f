package ledger

import (
	"slices"
	"testing"
	"unsafe"

	"sequent/core/model"
)

// TestExpiryHeapPositionPageBoundaries drives the indexed heap alone with transfer
// indexes at the edges of its position pages: 0, the last and first index of adjacent
// pages, a first item many pages past the last one allocated, and the largest transfer
// index (2^27-1). Removing a transfer that never entered the heap, on an allocated page
// or past the last one, changes nothing; every item stays where its position says; the
// pops come out in (deadline, transfer index) order.
func TestExpiryHeapPositionPageBoundaries(t *testing.T) {
	const last = 1<<27 - 1
	indexes := []uint32{expiryPositionPageLength, 0, expiryPositionPageLength - 1, last,
		2*expiryPositionPageLength - 1, 5*expiryPositionPageLength + 3, last - 1,
		last - expiryPositionPageLength, 1, 2 * expiryPositionPageLength}
	var h expiryHeap
	for i, index := range indexes {
		h.push(expiryItem{deadline: uint64(10 + i%3), transfer: index})
		checkPositions(t, &h)
	}
	if len(h.positions) != last>>expiryPositionPageShift+1 {
		t.Fatalf("%d position pages listed, want %d", len(h.positions),
			last>>expiryPositionPageShift+1)
	}
	// Never scheduled: on an allocated page, on a page never allocated, past the last.
	for _, index := range []uint32{2, expiryPositionPageLength + 1, 3 * expiryPositionPageLength} {
		h.remove(index)
	}
	if len(h.items) != len(indexes) {
		t.Fatalf("removing unscheduled transfers left %d items, want %d", len(h.items),
			len(indexes))
	}
	var small expiryHeap
	small.push(expiryItem{deadline: 1, transfer: 0})
	small.remove(expiryPositionPageLength) // The first index past the only page.
	small.remove(last)                     // Far past it.
	if len(small.items) != 1 || len(small.positions) != 1 {
		t.Fatalf("remove past the pages: %d items, %d pages", len(small.items),
			len(small.positions))
	}
	// Remove two from the middle of the order, then pop the rest.
	h.remove(last)
	h.remove(0)
	checkPositions(t, &h)
	var want []expiryItem
	for i, index := range indexes {
		if index != last && index != 0 {
			want = append(want, expiryItem{deadline: uint64(10 + i%3), transfer: index})
		}
	}
	slices.SortFunc(want, func(x, y expiryItem) int {
		if x.before(&y) {
			return -1
		}
		return 1
	})
	for _, item := range want {
		if got := h.pop(); got != item {
			t.Fatalf("popped %+v, want %+v", got, item)
		}
		checkPositions(t, &h)
		if _, found := h.slotOf(item.transfer); found {
			t.Fatalf("transfer %d still has a position after its pop", item.transfer)
		}
	}
	if len(h.items) != 0 {
		t.Fatalf("%d items left", len(h.items))
	}
}

// checkPositions checks that every item of h sits where its position says and that h is
// in heap order.
func checkPositions(t heapTest, h *expiryHeap) {
	t.Helper()
	for slot := range h.items {
		if got, found := h.slotOf(h.items[slot].transfer); !found || got != slot {
			t.Fatalf("transfer %d at slot %d: position %d, %v", h.items[slot].transfer,
				slot, got, found)
		}
		if slot > 0 && h.items[slot].before(&h.items[(slot-1)/2]) {
			t.Fatalf("slot %d expires before its parent", slot)
		}
	}
}

// TestMemoryBytesCountsTheExpiryHeap checks that MemoryBytes counts what a timed pending
// transfer adds (doc.go): its heap item and the page of positions of its range. Two
// ledgers hold the same transfers except that one pending transfer has a timeout.
func TestMemoryBytesCountsTheExpiryHeap(t *testing.T) {
	untimed, timed := newFixture(t), newFixture(t)
	untimed.expect(model.StatusOK, pending(1, 1, 2, 1, 0))
	timed.expect(model.StatusOK, pending(1, 1, 2, 1, 60))
	_, untimedBytes := untimed.ledger.MemoryBytes()
	_, timedBytes := timed.ledger.MemoryBytes()
	want := uint64(expiryPositionPageLength*4 + unsafe.Sizeof(expiryItem{}))
	if timedBytes < untimedBytes+want {
		t.Fatalf("a timed pending transfer adds %d bytes to MemoryBytes, want at least %d",
			timedBytes-untimedBytes, want)
	}
}

// TestNextDeadlineSkipsResolvedTransfers pins NextDeadline's contract (the earliest
// deadline of an active pending transfer, which decides when the shard writes a pulse):
// a posted or voided transfer's deadline is never returned, whether it was resolved
// alone or in a linked chain that commits, and a rolled-back resolution keeps it. (Before
// session 46 the deadline of a resolved transfer stayed the answer until a sweep passed
// it.)
func TestNextDeadlineSkipsResolvedTransfers(t *testing.T) {
	f := newFixture(t)
	wantDeadline := func(step string, id uint64, want bool) {
		t.Helper()
		deadline, ok := f.ledger.NextDeadline()
		if ok != want {
			t.Fatalf("%s: NextDeadline %d, %v; want %v", step, deadline, ok, want)
		}
		if !want {
			return
		}
		index, found := f.ledger.findTransfer(model.U128(id))
		if !found || deadline != pendingDeadline(f.ledger.transfers.at(index)) {
			t.Fatalf("%s: NextDeadline %d, not transfer %d's deadline", step, deadline, id)
		}
	}
	linked := func(event model.Transfer) model.Transfer {
		event.Flags |= model.TransferLinked
		return event
	}
	f.expect(model.StatusOK, pending(1, 1, 2, 1, 1))
	f.expect(model.StatusOK, pending(2, 1, 2, 1, 2))
	f.expect(model.StatusOK, pending(3, 1, 2, 1, 3))
	f.expect(model.StatusOK, pending(4, 1, 2, 1, 4))
	wantDeadline("created", 1, true)
	f.expect(model.StatusOK, post(11, 1, model.Uint128Max))
	wantDeadline("1 posted", 2, true)
	f.transfers(linked(void(12, 2)), transfer(13, 1, 99, 1)) // Rolled back.
	wantDeadline("void of 2 rolled back", 2, true)
	results := f.transfers(linked(void(14, 2)), post(15, 3, model.Uint128Max))
	if results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
		t.Fatalf("committed chain: %s, %s", results[0].Status, results[1].Status)
	}
	wantDeadline("2 voided and 3 posted in a chain", 4, true)
	f.expect(model.StatusOK, void(16, 4))
	wantDeadline("all resolved", 0, false)
}
