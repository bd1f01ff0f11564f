package client

import (
	"slices"

	"sequent/core/model"
)

// The server's exactly-once window (PROTOCOL.md §7): it recognises a request number only
// within 256 below the highest number it applied for the session, and it keeps the
// session's replies for resends up to replyCacheBytes of bodies, evicting the oldest; a
// resend of a request older than either is answered request_too_old, applied or not.
// InflightMax (below 256) and InflightBytesMax bound the requests pending at once, but
// not what is applied after the oldest of them: a request answered busy,
// log_unavailable or outcome_unknown stays pending and is resent with its number after
// a backoff (the server answers busy before it looks a number up, so even a request
// applied, whose reply was lost with its connection, may be refused so), while the
// other slots of the window go on with new requests. So a request is numbered only
// while the oldest pending request stays inside both bounds of it: fewer than 256
// numbers, and at most replyCacheBytes of expected reply bodies from the oldest pending
// request's on; otherwise its caller waits for that request to be answered (which needs
// nothing of the requests numbered after it). The server caches replies in the order it
// applies requests, which is the numbers' order except for a request refused that way
// and applied on a resend: its reply comes after those of requests numbered above it,
// so it counts as pending for them (lateReply), and its callers leaving do not take it
// out of the pending set while a copy of it is on its way (abandonPendingLocked); when it
// leaves unanswered, it counts as a late reply.
const exactlyOnceWindow = model.SessionWindow

// replyCacheBytes is the server's cache of reply bodies per session: its default, and the
// least it keeps (core raises a smaller configured size to it), since the handshake does
// not tell the size.
const replyCacheBytes = model.SessionReplyBytesDefault

// insideWindowLocked reports whether a request expecting replyBytes of reply body may
// take the next number: every pending request stays within exactlyOnceWindow numbers and
// replyCacheBytes of reply bodies of it. spanStart and spanBytes are at or below the
// number and the numberedBytes mark of every pending request (both only grow as
// requests are numbered); they are raised to the oldest pending request's only when the
// cheap check against them fails, so the pending set is scanned rarely. Called with mu
// held.
func (c *Client) insideWindowLocked(replyBytes int64) bool {
	inside := func() bool {
		return c.next-c.spanStart < exactlyOnceWindow &&
			c.numberedBytes+replyBytes-c.spanBytes <= replyCacheBytes
	}
	if inside() {
		return true
	}
	c.spanStart, c.spanBytes = c.next, c.numberedBytes
	for number, call := range c.pending {
		if number < c.spanStart {
			c.spanStart, c.spanBytes = number, call.numberedAt
		}
	}
	c.late = slices.DeleteFunc(c.late, func(late lateReply) bool {
		for number := range c.pending {
			if late.number < number && number < late.until {
				return false
			}
		}
		return true // No request its reply may have been cached after still waits.
	})
	for _, late := range c.late {
		if late.number < c.spanStart {
			c.spanStart, c.spanBytes = late.number, late.numberedAt
		}
	}
	return inside()
}

// lateReply is a request answered after the server refused it at least once with a
// status it is resent after (busy, log_unavailable, outcome_unknown): the copy applied
// may have come after requests numbered above it, so its reply may sit in the server's
// cache after theirs, taking room that the numbers alone do not show. While a request
// numbered between it and until (the next number when it was answered) is pending,
// perhaps applied and its reply lost, that request's resend needs its own reply still
// cached: the window counts from the late request's number and bytes (as if it were
// still pending) until none of them is.
type lateReply struct {
	number     uint64
	numberedAt int64
	until      uint64
}

// lateLocked records call, answered after a refusal that is resent (lateReply), as it
// leaves the pending set. Called with mu held.
func (c *Client) lateLocked(call *Call) {
	c.late = append(c.late, lateReply{number: call.Number, numberedAt: call.numberedAt,
		until: c.next})
}

// numberLocked gives call the next number, for replyBytes of expected reply body. Called
// with mu held, once insideWindowLocked allowed it.
func (c *Client) numberLocked(call *Call, replyBytes int64) {
	call.Number = c.next
	c.next++
	call.numberedAt = c.numberedBytes
	c.numberedBytes += replyBytes
}

// waitInsideWindow waits until a request expecting replyBytes of reply body may take the
// next number (insideWindowLocked), releasing mu meanwhile. It reports false when done
// ends or the client closes first; it returns early, true, once wanted (when not nil)
// reports false: a merged request every caller left is never numbered. Waiters are
// numbered in the order they began to wait (windowQueue), Go's and admit's alike: a
// later request that happens to fit must not take a number before an earlier, larger
// one, or a stream of them could keep that one (and the merged requests queued behind
// it in admit) waiting as long as it lasts. The head of the queue waits only for
// pending requests to be answered, which needs nothing of the waiters behind it. Called
// and returns with mu held.
func (c *Client) waitInsideWindow(done <-chan struct{}, replyBytes func() int64,
	wanted func() bool) bool {
	if len(c.windowQueue) == 0 && c.insideWindowLocked(replyBytes()) {
		return !c.closed
	}
	c.windowTicket++
	ticket := c.windowTicket
	c.windowQueue = append(c.windowQueue, ticket)
	defer c.leaveWindowQueueLocked(ticket)
	for c.windowQueue[0] != ticket || !c.insideWindowLocked(replyBytes()) {
		if wanted != nil && !wanted() {
			break // Out of the queue (deferred): it no longer holds up the ones behind.
		}
		if c.closed {
			return false
		}
		if c.corks.Load() != 0 && len(c.outbox) != 0 && !c.writing && c.conn != nil {
			// The room waited for comes from replies to requests a cork may hold back.
			c.writeLocked()
			continue
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

// leaveWindowQueueLocked takes ticket out of the waiters' queue (numbered, or given up)
// and wakes the others: the next one may be at the head now. Called with mu held.
func (c *Client) leaveWindowQueueLocked(ticket uint64) {
	index := slices.Index(c.windowQueue, ticket)
	c.windowQueue = slices.Delete(c.windowQueue, index, index+1)
	c.leftPendingLocked()
}

// leftPendingLocked wakes the callers waiting for room in the exactly-once window; it is
// called, with mu held, whenever calls leave the pending set or the waiters' queue.
func (c *Client) leftPendingLocked() {
	if c.pendingLeft != nil {
		close(c.pendingLeft)
		c.pendingLeft = nil
	}
}
