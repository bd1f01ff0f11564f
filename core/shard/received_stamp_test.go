package shard

import (
	"testing"
	"time"

	"sequent/core/model"
)

// TestRingReceivedStampsConvertedEach: the ring converts a request's Received stamp to
// the monotonicNow scale once per run of equal stamps (receivedLocked keeps the last
// one); every request must still carry its own stamp's value, whichever stamp came
// before it, and an unstamped request must neither take the cached value nor disturb
// it. Method: pushes stamped A, A, B, A, none, B, C (three distinct clock readings a
// millisecond or more apart), then each taken request's received value is compared
// with its stamp's Sub(processStart); the unstamped one must lie between two clock
// readings around its push. A cache that kept its first value (or the unstamped
// request's) fails the third and later requests.
func TestRingReceivedStampsConvertedEach(t *testing.T) {
	ring := newInputRing(1<<16, 64)
	first := time.Now()
	stamps := []time.Time{first, first, first.Add(time.Millisecond), first,
		{}, first.Add(time.Millisecond), first.Add(3 * time.Millisecond)}
	var before, after int64
	for i, stamp := range stamps {
		request := ringProducerRequest(1, uint64(i+1), model.TransferSize)
		request.Received = stamp
		if stamp.IsZero() {
			before = monotonicNow()
		}
		if status := ring.push(request, true); status != model.StatusOK {
			t.Fatalf("push %d: %s", i, status)
		}
		if stamp.IsZero() {
			after = monotonicNow()
		}
	}
	taken, _ := ring.take(nil, len(stamps), 1<<20)
	if len(taken) != len(stamps) {
		t.Fatalf("took %d requests, want %d", len(taken), len(stamps))
	}
	for i, meta := range taken {
		if stamps[i].IsZero() {
			if meta.received < before || meta.received > after {
				t.Errorf("request %d (unstamped): received %d, want within [%d, %d]", i,
					meta.received, before, after)
			}
			continue
		}
		if want := int64(stamps[i].Sub(processStart)); meta.received != want {
			t.Errorf("request %d: received %d, want %d", i, meta.received, want)
		}
	}
}
