package client

import "testing"

// TestStraysCountOnlyForPendingRequestsAboveThem (rcfix43) pins insideWindowLocked's
// handling of strays (writes given up or departed whose lost copy may still be applied):
// their reply bytes count against a pending request numbered above them
// within the exactly-once window, never against a new request when nothing is pending
// (a waiter would wait for ever: nothing pending means nothing to be answered), and a
// stray is forgotten once no request pending or numbered from now on can be applied
// before it.
func TestStraysCountOnlyForPendingRequestsAboveThem(t *testing.T) {
	const strayBytes = 1_179_216 // A full batch's results with balances.
	c := &Client{pending: map[uint64]*Call{}, next: 11, numberedBytes: 2 * strayBytes}
	c.strays = []strayReply{{number: 5, replyBytes: strayBytes},
		{number: 9, replyBytes: strayBytes}}
	c.strayBytes = 2 * strayBytes
	c.spanStart, c.spanBytes = 5, 0 // Stale low marks, as after the strays left.

	if !c.insideWindowLocked(replyCacheBytes) {
		t.Fatal("nothing pending: a new request waits for the strays alone (for ever)")
	}
	if len(c.strays) != 2 {
		t.Fatalf("%d strays kept, want 2: requests numbered from now on may be applied "+
			"before them", len(c.strays))
	}

	// A pending request above both: their replies may come after its own.
	pending := &Call{Number: 11, numberedAt: c.numberedBytes}
	c.numberLocked(pending, 1000)
	c.pending[pending.Number] = pending
	if c.insideWindowLocked(1000) {
		t.Fatal("a request numbered with two strays' 2,358,432 bytes counted after a " +
			"pending request's: its reply may be evicted before its resend")
	}

	// Once the pending request is answered, nothing pending: the next one goes.
	delete(c.pending, pending.Number)
	if !c.insideWindowLocked(1000) {
		t.Fatal("nothing pending: a new request waits for the strays")
	}

	// Numbers move on: a stray exactlyOnceWindow or more below the next number, with
	// nothing pending above it, can no longer be applied before any request that may
	// still need its reply; the other stays.
	c.next = 5 + exactlyOnceWindow
	c.insideWindowLocked(replyCacheBytes + 1) // Fails the cheap check: the scan runs.
	if len(c.strays) != 1 || c.strays[0].number != 9 || c.strayBytes != strayBytes {
		t.Fatalf("strays after the window moved past 5: %+v (%d bytes)", c.strays,
			c.strayBytes)
	}
}
