package ledger

import (
	"sequent/core/event"
	"sequent/core/model"
)

// expiryHeap is a binary min-heap of pending transfers with a timeout, ordered by deadline
// and then by transfer index (which follows creation timestamps), so expiries happen in a
// deterministic order. Entries are not removed when a transfer is posted or voided; Expire
// skips entries whose transfer is no longer pending (lazy deletion), so the heap holds at
// most one entry per pending transfer ever created with a timeout and not yet popped.
type expiryHeap struct {
	items []expiryItem
}

func (h *expiryHeap) less(a, b int) bool {
	x, y := &h.items[a], &h.items[b]
	if x.deadline != y.deadline {
		return x.deadline < y.deadline
	}
	return x.transfer < y.transfer
}

func (h *expiryHeap) push(item expiryItem) {
	h.items = append(h.items, item)
	for child := len(h.items) - 1; child > 0; {
		parent := (child - 1) / 2
		if !h.less(child, parent) {
			break
		}
		h.items[child], h.items[parent] = h.items[parent], h.items[child]
		child = parent
	}
}

func (h *expiryHeap) pop() expiryItem {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for parent := 0; ; {
		smallest, left, right := parent, 2*parent+1, 2*parent+2
		if left < last && h.less(left, smallest) {
			smallest = left
		}
		if right < last && h.less(right, smallest) {
			smallest = right
		}
		if smallest == parent {
			break
		}
		h.items[parent], h.items[smallest] = h.items[smallest], h.items[parent]
		parent = smallest
	}
	return top
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
			continue // Posted or voided before its deadline.
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

// NextDeadline returns the earliest deadline of a pending transfer that may still expire,
// so the sequencer knows when to write a pulse entry if no client writes. It may be a
// deadline of a transfer already resolved (lazy deletion): a pulse for it is harmless.
func (l *Ledger) NextDeadline() (uint64, bool) {
	if len(l.expiry.items) == 0 {
		return 0, false
	}
	return l.expiry.items[0].deadline, true
}
