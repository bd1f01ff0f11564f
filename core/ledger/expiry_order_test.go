package ledger

import (
	"cmp"
	"slices"
	"testing"

	"sequent/core/model"
)

// expiryOrderHolds is how many pending transfers TestHoldsExpireInDeadlineOrder creates:
// enough for a heap several levels deep, where a removal from the middle moves the last
// item into a slot whose parent is later than it.
const expiryOrderHolds = 240

// TestHoldsExpireInDeadlineOrder: pending transfers with their timeouts in a scrambled
// order, a third of them posted or voided in another scrambled order (each leaving the
// expiry heap from wherever it sits), then the rest expire one at a time, each exactly
// at its own deadline: NextDeadline names the earliest active hold, and Expire at that
// time releases that hold alone.
func TestHoldsExpireInDeadlineOrder(t *testing.T) {
	f := newFixture(t)
	type hold struct {
		id       uint64
		deadline uint64
	}
	holds := make([]hold, 0, expiryOrderHolds)
	for i := uint64(0); i < expiryOrderHolds; i++ {
		id := 1000 + i
		timeout := uint32(i*97%expiryOrderHolds + 1) // A permutation of 1..expiryOrderHolds.
		results := f.transfers(pending(id, 1, 2, 1, timeout))
		if results[0].Status != model.StatusOK {
			t.Fatalf("pending %d: %s", id, results[0].Status)
		}
		holds = append(holds, hold{id, results[0].Timestamp + uint64(timeout)*second})
	}
	active := holds[:0:0]
	for i := uint64(0); i < expiryOrderHolds; i++ {
		h := holds[i*61%expiryOrderHolds]
		switch {
		case i%3 == 0:
			f.transfers(post(5000+i, h.id, model.U128(1)))
		case i%3 == 1 && i < expiryOrderHolds/2:
			f.transfers(void(5000+i, h.id))
		default:
			active = append(active, h)
		}
	}
	slices.SortFunc(active, func(a, b hold) int { return cmp.Compare(a.deadline, b.deadline) })
	for _, h := range active {
		if next, ok := f.ledger.NextDeadline(); !ok || next != h.deadline {
			t.Fatalf("next deadline %d (%v), want %d of transfer %d", next, ok, h.deadline, h.id)
		}
		var expired []model.Uint128
		f.ledger.Expire(h.deadline, func(id model.Uint128) { expired = append(expired, id) })
		if len(expired) != 1 || expired[0] != model.U128(h.id) {
			t.Fatalf("at %d expired %v, want transfer %d alone", h.deadline, expired, h.id)
		}
	}
	if next, ok := f.ledger.NextDeadline(); ok {
		t.Fatalf("a deadline %d is left after every hold expired", next)
	}
}
