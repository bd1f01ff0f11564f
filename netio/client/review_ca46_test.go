package client

import (
	"context"
	"errors"
	"testing"
)

// Review of session 46's admission goroutine (admitter, coalesce.go): its queue's pop
// keeps the order and no reference to a request taken, and a request queued once the
// admitter has gone idle wakes it.

// TestAdmissionQueuePopsInOrderKeepingNoReference: requests pushed and popped in turns
// that take the queue through both of popAdmissionLocked's compactions (emptied: reused
// from its start; more than half taken: the rest copied to the front) come out in the
// order pushed, and no slot of the queue's array outside the requests still queued
// refers to a request (a request taken and answered must not be kept alive by it).
func TestAdmissionQueuePopsInOrderKeepingNoReference(t *testing.T) {
	c := &Client{}
	var pushed, popped []*Call
	push := func(count int) {
		for range count {
			call := &Call{events: len(pushed)}
			pushed = append(pushed, call)
			c.admitQueue = append(c.admitQueue, admission{call: call})
		}
	}
	pop := func(count int) {
		for range count {
			popped = append(popped, c.popAdmissionLocked().call)
			array := c.admitQueue[:cap(c.admitQueue)]
			for i, slot := range array {
				if (i < c.admitHead || i >= len(c.admitQueue)) && slot.call != nil {
					t.Fatalf("after %d pops: slot %d of the queue's array (head %d, length %d) "+
						"still refers to request %d", len(popped), i, c.admitHead,
						len(c.admitQueue), slot.call.events)
				}
			}
		}
	}
	// Each step: push, then pop; the queue never empties before the last pops.
	for _, step := range [][2]int{{5, 1}, {1, 3}, {4, 2}, {9, 7}, {1, 1}, {3, 6}, {2, 5}} {
		push(step[0])
		pop(step[1])
	}
	pop(len(pushed) - len(popped))
	for i := range pushed {
		if popped[i] != pushed[i] {
			t.Fatalf("pop %d took request %d, want %d (first in, first out)", i,
				popped[i].events, pushed[i].events)
		}
	}
	if c.admitHead != 0 || len(c.admitQueue) != 0 {
		t.Fatalf("emptied queue: head %d, length %d, want 0 and 0", c.admitHead,
			len(c.admitQueue))
	}
}

// TestIdleAdmitterWokenByALaterQueue: a first queue of requests is admitted and the
// admitter goes idle (waiting for a wake-up); a request queued later, behind a window
// full again, is admitted once the window frees: the push wakes the idle admitter
// (queueAdmissionLocked's signal), it does not wait for the client's end.
func TestIdleAdmitterWokenByALaterQueue(t *testing.T) {
	s, c, ctx, blocker := heldWindowConfigured(t, 960, oneEventRequests)
	first, err := submitOne(ctx, c, 961)
	if err != nil {
		t.Fatal(err)
	}
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	if _, err := first.wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "the first queue admitted", func() bool { return c.admitting == 0 })
	waitForGoroutine(t, "the admitter idle", "(*Client).admitter(", " [select")

	s.backend.Pause()
	blocker = holdWindow(ctx, t, c, transfer(962, 1, 2, 1, 0))
	later, err := submitOne(ctx, c, 963)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	queued := c.admitting
	c.mu.Unlock()
	if queued != 1 {
		t.Fatalf("%d requests queued behind the full window, want 1", queued)
	}
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	// Bounded: a lost wake-up would leave the request unadmitted until the client ends.
	bounded, cancel := context.WithTimeout(ctx, waitLimit/2)
	defer cancel()
	if _, err := later.wait(bounded); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the request queued after the admitter went idle was never admitted")
		}
		t.Fatal(err)
	}
}
