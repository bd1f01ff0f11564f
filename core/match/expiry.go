package match

import (
	"sequent/core/model"
)

// expiryItem is an open good-till-time order in the expiry heap.
type expiryItem struct {
	deadline uint64 // The order's expire timestamp.
	orderID  uint64 // Tie-break: orders with one deadline expire in placement order.
	slot     uint32 // The order's slot (its heapIndex points back here).
}

// expiryHeap is an indexed binary min-heap of open good-till-time orders ordered by
// (deadline, order id), so expiry order is a function of the state alone, whatever the
// heap's shape. Each order knows its position (heapIndex), so a canceled or filled order
// leaves the heap at once (O(log n)) and the heap never holds more than the open orders.
type expiryHeap struct {
	items []expiryItem
}

func (h *expiryHeap) less(a, b int) bool {
	x, y := &h.items[a], &h.items[b]
	if x.deadline != y.deadline {
		return x.deadline < y.deadline
	}
	return x.orderID < y.orderID
}

func (h *expiryHeap) swap(e *Engine, a, b int) {
	h.items[a], h.items[b] = h.items[b], h.items[a]
	e.orders[h.items[a].slot].heapIndex = uint32(a)
	e.orders[h.items[b].slot].heapIndex = uint32(b)
}

func (h *expiryHeap) up(e *Engine, child int) {
	for child > 0 {
		parent := (child - 1) / 2
		if !h.less(child, parent) {
			return
		}
		h.swap(e, child, parent)
		child = parent
	}
}

func (h *expiryHeap) down(e *Engine, parent int) {
	for {
		smallest, left, right := parent, 2*parent+1, 2*parent+2
		if left < len(h.items) && h.less(left, smallest) {
			smallest = left
		}
		if right < len(h.items) && h.less(right, smallest) {
			smallest = right
		}
		if smallest == parent {
			return
		}
		h.swap(e, parent, smallest)
		parent = smallest
	}
}

// push adds the order in slot, which has a deadline and is not in the heap.
func (h *expiryHeap) push(e *Engine, slot uint32) {
	o := &e.orders[slot]
	if o.heapIndex != indexNone || o.expireTimestamp == 0 {
		panic("match: expiry push of an order without a deadline or already queued")
	}
	h.items = append(h.items, expiryItem{deadline: o.expireTimestamp, orderID: o.id, slot: slot})
	o.heapIndex = uint32(len(h.items) - 1)
	h.up(e, len(h.items)-1)
}

// remove takes the item at position out of the heap.
func (h *expiryHeap) remove(e *Engine, position uint32) {
	index := int(position)
	slot := h.items[index].slot
	last := len(h.items) - 1
	if index != last {
		h.swap(e, index, last)
	}
	h.items = h.items[:last]
	e.orders[slot].heapIndex = indexNone
	if index != last {
		h.down(e, index)
		h.up(e, index)
	}
}

// NextDeadline returns the earliest deadline of an open good-till-time order, so that
// the sequencer knows when to write a pulse entry if no client writes.
func (e *Engine) NextDeadline() (uint64, bool) {
	if len(e.expiry.items) == 0 {
		return 0, false
	}
	return e.expiry.items[0].deadline, true
}

// Expire expires the open good-till-time orders whose deadline is at or before
// timestamp, earliest deadline first (then placement order), at most ExpiriesPerPulseMax
// per call: their holds are voided and each owner gets an expired report. The caller runs
// it at the start of every log entry with the entry's timestamp, before the entry's
// commands, so that expiry is a pure function of the log. It returns how many expired.
func (e *Engine) Expire(clock *uint64, timestamp uint64, sink Sink) int {
	e.commandBegin()
	count := 0
	for count < ExpiriesPerPulseMax && len(e.expiry.items) > 0 &&
		e.expiry.items[0].deadline <= timestamp {
		slot := e.expiry.items[0].slot
		e.expiry.remove(e, 0)
		e.endQueue(slot, model.StatusExpired, 0)
		count++
	}
	e.endQueueFlush(clock, timestamp, sink)
	e.marketDataFlush(timestamp, sink)
	return count
}
