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
// leaves unanswered, it counts as a late reply. A write that leaves while a copy lost
// with a connection may still be applied counts as a stray instead (strayReply).
const exactlyOnceWindow = model.SessionWindow

// replyCacheBytes is the server's cache of reply bodies per session: its default, and the
// least it keeps (core raises a smaller configured size to it), since the handshake does
// not tell the size.
const replyCacheBytes = model.SessionReplyBytesDefault

// insideWindowLocked reports whether a request expecting replyBytes of reply body may
// take the next number: every pending request stays within exactlyOnceWindow numbers and
// replyCacheBytes of reply bodies of it, counting as cached after it the replies of the
// stray requests (strayReply) numbered below it that may still be applied after it (their
// bytes, not their entries: see strayReply).
// spanStart and spanBytes are at or below the number and the numberedAt mark of every
// pending request (both only grow as requests are numbered); they are raised to the
// oldest pending request's only when the cheap check against them fails, so the pending
// set is scanned rarely. The cheap check counts every stray; the scan counts only those
// below spanStart that a pending request is numbered above, fewer than
// exactlyOnceWindow numbers up: one at or above spanStart is numbered inside the span
// already (its number and bytes lie between spanStart's and a later request's), and
// one no pending request is numbered above in that range cannot push a reply that
// someone still waits for out of the cache. So a waiter never waits for a stray alone:
// with nothing pending, the scan counts none. Called with mu held.
func (c *Client) insideWindowLocked(replyBytes int64) bool {
	inside := func(strayBytes int64) bool {
		return c.next-c.spanStart < exactlyOnceWindow &&
			c.numberedBytes+replyBytes-c.spanBytes+strayBytes <= replyCacheBytes
	}
	if inside(c.strayBytes) {
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
	return inside(c.strayBytesBelowSpanLocked())
}

// strayBytesBelowSpanLocked forgets the strays that no request pending or numbered from
// now on can be applied before (strayReply), and returns the reply bytes of the others
// that count in the window from spanStart (insideWindowLocked). Called with mu held,
// after spanStart was set to the oldest pending or late request's.
func (c *Client) strayBytesBelowSpanLocked() (strayBytes int64) {
	kept := c.strays[:0]
	c.strayBytes = 0
	for _, stray := range c.strays {
		above := false // A pending request its copy may be applied after.
		for number := range c.pending {
			if stray.number < number && number-stray.number < exactlyOnceWindow {
				above = true
				break
			}
		}
		if !above && c.next-stray.number >= exactlyOnceWindow {
			continue // Every request numbered from now on makes it too old to apply.
		}
		kept = append(kept, stray)
		c.strayBytes += stray.replyBytes
		if above && stray.number < c.spanStart {
			strayBytes += stray.replyBytes
		}
	}
	clear(c.strays[len(kept):])
	c.strays = kept
	return strayBytes
}

// strayReply is a write that left the pending set while a copy of it sent on a
// connection that ended was never answered: the server may still hold that copy in its
// queue (PROTOCOL.md §7) and apply it after requests numbered above it, its reply cached
// after theirs, until it applies one numbered exactlyOnceWindow or more above it (then
// the copy is too old to apply). Such a write is one given up (resendOrDropLocked), or
// one whose callers left while its copy was on its way (departed, abandonPendingLocked)
// when that connection then ended (lostLocked). For every pending request numbered
// above it within exactlyOnceWindow, the window counts its reply bytes
// (insideWindowLocked): a caller still waiting for that request, applied and its reply
// lost, gets its reply from the cache on the resend, unless the cache's other bound,
// 256 replies, evicts it first: each stray applied after it is one reply more, which the
// window does not count (a known gap, README "Limits and known gaps"; counting them
// limits a client that gave up its last 255 requests to one pending request, and hangs
// TestThousandsOfLostRequestsAboveTheBurstLeaveNothingHeld, whose callers wait on
// requests no resend can pass).
type strayReply struct {
	number     uint64
	replyBytes int64 // Its expected reply body (Call.replyBytes).
}

// strayOf is call's entry among the strays or the departed copies.
func strayOf(call *Call) strayReply {
	return strayReply{number: call.Number, replyBytes: call.replyBytes}
}

// strayLocked records call, which leaves the pending set while a lost copy of it may
// still be applied, as a stray (strayReply). Called with mu held.
func (c *Client) strayLocked(call *Call) {
	c.addStrayLocked(strayOf(call))
}

// addStrayLocked appends stray to the strays, keeping strayBytes their sum (the cheap
// check of insideWindowLocked). Called with mu held.
func (c *Client) addStrayLocked(stray strayReply) {
	c.strays = append(c.strays, stray)
	c.strayBytes += stray.replyBytes
}

// departedLocked records call, a write leaving the pending set with a copy queued or
// written on the current connection and not answered, as departed: that copy is applied
// in number order or not at all while the connection lasts, but becomes a stray if the
// connection ends before answering it (lostLocked). Called with mu held.
func (c *Client) departedLocked(call *Call) {
	c.departed = append(c.departed, strayOf(call))
}

// departedAnsweredLocked forgets the departed copy numbered number once the current
// connection answers it: applied then, in order, or refused. Called with mu held.
func (c *Client) departedAnsweredLocked(number uint64) {
	c.departed = slices.DeleteFunc(c.departed, func(departed strayReply) bool {
		return departed.number == number
	})
}

// departedLostLocked makes every departed copy a stray: its connection ended with it
// unanswered. Called with mu held, by lostLocked.
func (c *Client) departedLostLocked() {
	for _, departed := range c.departed {
		c.addStrayLocked(departed)
	}
	clear(c.departed)
	c.departed = c.departed[:0]
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
	call.replyBytes = replyBytes
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
