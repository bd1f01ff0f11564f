package client

// The server's exactly-once window (PROTOCOL.md §7): it recognises a request number only
// within 256 below the highest number it applied for the session; a resend of an older
// one is answered request_too_old, applied or not. InflightMax (below 256) bounds how
// many requests are pending at once, but not how far apart their numbers are: a request
// answered busy, log_unavailable or outcome_unknown stays pending and is resent with its
// number after a backoff, while the other slots of the window go on numbering new
// requests, and a request whose connection was lost waits for the next one. So a request
// is numbered only while the oldest pending request stays inside the window of it;
// otherwise its caller waits for that request to be answered (which needs nothing of
// the requests numbered after it).
const exactlyOnceWindow = 256

// insideWindowLocked reports whether the next number is within the exactly-once window
// of every pending request. spanStart is at or below every pending number (numbers are
// handed out upwards from next); it is raised to the oldest pending number only when
// the cheap check against it fails, so the pending set is scanned rarely. Called with mu
// held.
func (c *Client) insideWindowLocked() bool {
	if c.next-c.spanStart < exactlyOnceWindow {
		return true
	}
	oldest := c.next
	for number := range c.pending {
		oldest = min(oldest, number)
	}
	c.spanStart = oldest
	return c.next-oldest < exactlyOnceWindow
}

// waitInsideWindow waits until the next number is inside the exactly-once window of
// every pending request (insideWindowLocked), releasing mu meanwhile. It reports false
// when done ends or the client closes first. Called and returns with mu held.
func (c *Client) waitInsideWindow(done <-chan struct{}) bool {
	for !c.insideWindowLocked() {
		if c.closed {
			return false
		}
		if c.pendingLeft == nil {
			c.pendingLeft = make(chan struct{})
		}
		left := c.pendingLeft
		c.mu.Unlock()
		select {
		case <-left:
		case <-done:
			c.mu.Lock()
			return false
		}
		c.mu.Lock()
	}
	return !c.closed
}

// leftPendingLocked wakes the callers waiting for room in the exactly-once window; it is
// called, with mu held, whenever calls leave the pending set.
func (c *Client) leftPendingLocked() {
	if c.pendingLeft != nil {
		close(c.pendingLeft)
		c.pendingLeft = nil
	}
}
