package client

import (
	"testing"

	"sequent/core/model"
)

// TestBusyRetryAfterAReconnectSendsNoSecondCopy: a write answered busy waits out its
// backoff; meanwhile the connection ends and the reconnect (install) resends every
// pending request, this one with them. When the backoff ends, its timer must not queue a
// second copy on the new connection (the server would answer it as a duplicate, and an
// abandoned call would hold its window slot until it was). Without a reconnect the timer
// does resend. The timer's function is called here directly (BusyRetryDelay is the hang
// guard, so the real timer fires only after the test, on a closed client).
func TestBusyRetryAfterAReconnectSendsNoSecondCopy(t *testing.T) {
	for _, reconnected := range []bool{false, true} {
		f := newUnknownOutcomeFixture(t, waitLimit, "none")
		c, call := f.c, f.call
		refusedOn := c.generation
		f.answer(model.StatusBusy)
		c.mu.Lock()
		if reconnected {
			c.generation++                  // install's new connection...
			c.queueLocked(call, call.frame) // ...with the pending requests resent on it.
			c.writeLocked()
		}
		copies := call.unanswered
		c.mu.Unlock()
		c.resendAfterBackoff(call, refusedOn)
		c.mu.Lock()
		resent := call.unanswered - copies
		c.mu.Unlock()
		switch {
		case reconnected && resent != 0:
			t.Fatalf("the backoff's end queued %d more copies after the reconnect had "+
				"resent the write, want none", resent)
		case !reconnected && resent != 1:
			t.Fatalf("the backoff's end queued %d copies with no reconnect in between, "+
				"want 1", resent)
		}
	}
}
