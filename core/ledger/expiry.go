package ledger

import (
	"unsafe"

	"sequent/core/event"
	"sequent/core/model"
)

// expiryHeap is an indexed binary min-heap of the pending transfers with a timeout that
// are still active, ordered by deadline and then by transfer index (which follows
// creation timestamps), so expiries happen in a deterministic order. A post or void takes
// its transfer's item out (remove, O(log n)), so the heap holds exactly the active timed
// pending transfers: what a ledger restored from a snapshot rebuilds. Since the order is
// total (transfer indexes are unique), which items Expire takes depends only on that set,
// never on the heap's layout, so a restored and a replayed ledger expire the same
// transfers in the same entries; and one sweep's work is bounded by ExpiriesPerPulseMax
// pops (earlier, resolved transfers stayed in the heap and one sweep skipped all of
// them: 100,001 pops for 100,000 posted transfers sharing a deadline).
//
// To remove a given transfer's item, the heap records where each item sits: positions,
// per transfer index, the item's slot plus one (0: not in the heap), in pages of
// expiryPositionPageLength allocated when the first timed pending transfer of their
// range enters the heap. A ledger without timeouts allocates none; at worst it is 4
// bytes per transfer (~2% of the ~200 a stored transfer costs with its table: measured
// with MemoryBytes at 1 M transfers), and a page is never freed.
type expiryHeap struct {
	items     []expiryItem
	positions [][]uint32 // Page p covers transfer indexes [p, p+1) × expiryPositionPageLength.
}

const (
	// expiryPositionPageShift sets expiryPositionPageLength to 4,096 transfer indexes
	// (16 KiB of positions): small enough that timed pending transfers few and far
	// between cost little, large enough that a page is allocated at most once per 4,096
	// transfers.
	expiryPositionPageShift  = 12
	expiryPositionPageLength = 1 << expiryPositionPageShift
	expiryPositionPageMask   = expiryPositionPageLength - 1
)

// position returns where the heap records transfer's slot (plus one), allocating its
// page when needed.
func (h *expiryHeap) position(transfer uint32) *uint32 {
	page := int(transfer >> expiryPositionPageShift)
	for page >= len(h.positions) {
		h.positions = append(h.positions, nil)
	}
	if h.positions[page] == nil {
		h.positions[page] = make([]uint32, expiryPositionPageLength)
	}
	return &h.positions[page][transfer&expiryPositionPageMask]
}

// slotOf returns the slot of transfer's item, or false when it has none.
func (h *expiryHeap) slotOf(transfer uint32) (int, bool) {
	page := int(transfer >> expiryPositionPageShift)
	if page >= len(h.positions) || h.positions[page] == nil {
		return 0, false
	}
	position := h.positions[page][transfer&expiryPositionPageMask]
	return int(position) - 1, position != 0
}

// place puts item at slot and records its position.
func (h *expiryHeap) place(slot int, item expiryItem) {
	h.items[slot] = item
	*h.position(item.transfer) = uint32(slot) + 1
}

// before reports whether x expires before y.
func (x *expiryItem) before(y *expiryItem) bool {
	if x.deadline != y.deadline {
		return x.deadline < y.deadline
	}
	return x.transfer < y.transfer
}

// push adds item. Its common case, an item expiring after its parent (transfers created
// in deadline order: one timeout), stays at the end without calling up.
func (h *expiryHeap) push(item expiryItem) {
	slot := len(h.items)
	h.items = append(h.items, item)
	if slot > 0 && item.before(&h.items[(slot-1)/2]) {
		h.up(slot, item)
		return
	}
	*h.position(item.transfer) = uint32(slot) + 1
}

// up places item at slot or above it, moving the parents that expire after it down (the
// hole is filled once, not swapped at every level).
func (h *expiryHeap) up(slot int, item expiryItem) {
	for slot > 0 {
		parent := (slot - 1) / 2
		if !item.before(&h.items[parent]) {
			break
		}
		h.place(slot, h.items[parent])
		slot = parent
	}
	h.place(slot, item)
}

// down places item at slot or below it, moving the children that expire before it up.
func (h *expiryHeap) down(slot int, item expiryItem) {
	count := len(h.items)
	for {
		child := 2*slot + 1
		if child >= count {
			break
		}
		if right := child + 1; right < count && h.items[right].before(&h.items[child]) {
			child = right
		}
		if !h.items[child].before(&item) {
			break
		}
		h.place(slot, h.items[child])
		slot = child
	}
	h.place(slot, item)
}

// removeAt takes the item at slot out of the heap and returns it.
func (h *expiryHeap) removeAt(slot int) expiryItem {
	removed := h.items[slot]
	*h.position(removed.transfer) = 0
	last := len(h.items) - 1
	moved := h.items[last]
	h.items = h.items[:last]
	if slot < last {
		if slot > 0 && moved.before(&h.items[(slot-1)/2]) {
			h.up(slot, moved)
		} else {
			h.down(slot, moved)
		}
	}
	return removed
}

func (h *expiryHeap) pop() expiryItem { return h.removeAt(0) }

// remove takes transfer's item out of the heap, if it has one.
func (h *expiryHeap) remove(transfer uint32) {
	if slot, found := h.slotOf(transfer); found {
		h.removeAt(slot)
	}
}

// bytes returns the memory the heap holds: its items' capacity and its position pages.
func (h *expiryHeap) bytes() uint64 {
	total := uint64(cap(h.items))*uint64(unsafe.Sizeof(expiryItem{})) +
		uint64(cap(h.positions))*uint64(unsafe.Sizeof([]uint32(nil)))
	for _, page := range h.positions {
		total += uint64(len(page)) * 4
	}
	return total
}

// Expire releases pending transfers whose deadline is at or before timestamp, oldest
// deadline first, at most ExpiriesPerPulseMax per call; expired receives the ids of the
// transfers it expired (it may be nil). It returns how many expired. The caller runs it at
// the start of every log entry with the entry's timestamp, so expiry is a pure function of
// the log.
func (l *Ledger) Expire(timestamp uint64, expired func(id model.Uint128)) int {
	if l.undo.active {
		panic("ledger: Expire inside a linked chain")
	}
	count := 0
	for count < ExpiriesPerPulseMax && len(l.expiry.items) > 0 &&
		l.expiry.items[0].deadline <= timestamp {
		item := l.expiry.pop()
		status := l.pending.at(item.transfer)
		if *status != pendingActive {
			panic("ledger: a resolved pending transfer is still scheduled to expire")
		}
		p := l.transfers.at(item.transfer)
		if pendingDeadline(p) != item.deadline {
			panic("ledger: expiry deadline does not match its transfer")
		}
		debitIndex, debitFound := l.findAccount(p.DebitAccountID)
		creditIndex, creditFound := l.findAccount(p.CreditAccountID)
		if !debitFound || !creditFound {
			panic("ledger: accounts of an expiring transfer are missing")
		}
		debit, credit := l.accounts.at(debitIndex), l.accounts.at(creditIndex)
		debit.subDebitsPending(p.Amount)
		credit.subCreditsPending(p.Amount)
		l.totals.pendingReleased(debit.Ledger, p.Amount)
		reopenClosedBy(p, debit, credit)
		*status = pendingExpired
		count++
		if l.events != nil {
			l.appendTransferEventOf(event.KindTransferExpired, p, debit, credit)
		}
		if expired != nil {
			expired(p.ID)
		}
	}
	return count
}

// NextDeadline returns the earliest deadline of an active pending transfer, so the
// sequencer knows when to write a pulse entry if no client writes. (Before session 46 it
// could be the deadline of a transfer already posted or voided, whose item the heap kept:
// the pulse it caused expired nothing.)
func (l *Ledger) NextDeadline() (uint64, bool) {
	if len(l.expiry.items) == 0 {
		return 0, false
	}
	return l.expiry.items[0].deadline, true
}
