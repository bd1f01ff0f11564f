package shard

import (
	"encoding/binary"
	"testing"

	"sequent/core"
	"sequent/core/model"
)

// cancelClientOf returns the client a taken cancel_session request names, or 0 for any
// other request.
func cancelClientOf(ring *inputRing, meta *requestMeta) uint64 {
	var request core.Request
	decodeRequest(ring.bytes(meta), &request)
	if request.Operation != model.OperationCancelSession {
		return 0
	}
	return binary.LittleEndian.Uint64(request.Body)
}

// TestRingCancelWaitsInPlace: a cancel-on-disconnect that finds the ring full waits in
// it; until it is queued every other request is refused (busy), a second one of the same
// client adds nothing, and the release of what was taken queues the waiting cancels, in
// the order their sessions ended, before any later request.
func TestRingCancelWaitsInPlace(t *testing.T) {
	ring := newInputRing(1<<16, 2)
	for tag := uint64(1); tag <= 2; tag++ {
		if status := ring.push(ringRequest(tag, 100), true); status != model.StatusOK {
			t.Fatalf("push %d: %s", tag, status)
		}
	}
	if status := ring.push(ringRequest(3, 100), true); status != model.StatusBusy {
		t.Fatalf("push into the full ring: %s", status)
	}
	for _, client := range []uint64{7, 9, 7} {
		if status := ring.pushCancel(client); status != model.StatusOK {
			t.Fatalf("cancel of client %d: %s", client, status)
		}
	}
	if waiting := ring.cancelsWaiting(); waiting != 2 {
		t.Fatalf("%d cancels waiting, want 2 (client 7 once)", waiting)
	}
	taken, _ := ring.take(nil, 8, 1<<20)
	if len(taken) != 2 {
		t.Fatalf("took %d requests, want 2", len(taken))
	}
	// Room in the metadata ring, but the cancels have not been queued: nothing overtakes.
	if status := ring.push(ringRequest(4, 100), true); status != model.StatusBusy {
		t.Fatalf("push while cancels wait: %s, want busy", status)
	}
	ring.release(&taken[1])
	if waiting := ring.cancelsWaiting(); waiting != 0 {
		t.Fatalf("%d cancels still waiting after the release", waiting)
	}
	taken, _ = ring.take(taken[:0], 8, 1<<20)
	if len(taken) != 2 || cancelClientOf(ring, &taken[0]) != 7 ||
		cancelClientOf(ring, &taken[1]) != 9 {
		t.Fatalf("took %d requests, want the cancels of clients 7 then 9", len(taken))
	}
	ring.release(&taken[1])
	if status := ring.push(ringRequest(4, 100), true); status != model.StatusOK {
		t.Fatalf("push once the cancels were queued: %s", status)
	}
}

// TestRingCloseDropsWaitingCancels: a closed ring drops the cancels still waiting for
// room (never queued, as a request refused shutting_down), so that it drains: the
// sequencer's answerQueued at Close waits for that and would spin for ever.
func TestRingCloseDropsWaitingCancels(t *testing.T) {
	ring := newInputRing(1<<16, 1)
	if status := ring.push(ringRequest(1, 100), true); status != model.StatusOK {
		t.Fatalf("push: %s", status)
	}
	if status := ring.pushCancel(7); status != model.StatusOK {
		t.Fatalf("cancel: %s", status)
	}
	ring.close()
	taken, done := ring.take(nil, 8, 1<<20)
	if len(taken) != 1 || !done {
		t.Fatalf("took %d requests (done %v), want the one queued, drained", len(taken), done)
	}
	ring.release(&taken[0])
	if taken, _ = ring.take(taken[:0], 8, 1<<20); len(taken) != 0 {
		t.Fatal("a cancel was queued after the close")
	}
	if status := ring.pushCancel(11); status != model.StatusShuttingDown {
		t.Fatalf("cancel into the closed ring: %s", status)
	}
}

// TestRingCancelsWaitingAreBounded: at most cancelsPendingMax clients wait; one more is
// refused busy (SessionClosed retries it), and the ring takes it once room was made.
func TestRingCancelsWaitingAreBounded(t *testing.T) {
	ring := newInputRing(1<<16, 1)
	if status := ring.push(ringRequest(1, 100), true); status != model.StatusOK {
		t.Fatalf("push: %s", status)
	}
	for client := uint64(1); client <= cancelsPendingMax; client++ {
		if status := ring.pushCancel(client); status != model.StatusOK {
			t.Fatalf("cancel of client %d: %s", client, status)
		}
	}
	if status := ring.pushCancel(cancelsPendingMax + 1); status != model.StatusBusy {
		t.Fatalf("cancel beyond the bound: %s, want busy", status)
	}
	for ring.cancelsWaiting() > 0 { // One metadata slot: one cancel per take.
		taken, _ := ring.take(nil, 1, 1<<20)
		ring.release(&taken[0])
	}
	if status := ring.pushCancel(cancelsPendingMax + 1); status != model.StatusOK {
		t.Fatalf("cancel once the others were queued: %s", status)
	}
}
