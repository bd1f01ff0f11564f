package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Coalescing (client-side batching, as TigerBeetle's clients do): concurrent
// CreateAccounts, CreateTransfers and CreateTransfersWithBalances calls on one Client
// share requests. A request being formed stays open for more events of the same
// operation and flags until a writer takes it (the writer seals every forming request
// when it takes the outbox), so callers that arrive while a write syscall runs, or while
// the window is full, ride in the next request. Each caller waits for that request and
// reads its own slice of the results (results are positional: one per event, in order).
//
// Why merging changes no outcome: the ledger evaluates events in order and one event's
// result depends on the state left by the events before it and on its linked chain only;
// requests of one session are applied in number order either way. So a merged request
// answers each caller what its own request would have answered at that position, as
// long as no linked chain crosses a caller's boundary. A caller's events end either
// with a closed chain (chunks never cuts one) or with an open chain (linked flag on its
// last event); an open chain closes the request: it is placed last, where the end of the
// request fails it with linked_event_chain_open exactly as a request of its own would.
// Request-level statuses of these operations do not depend on the events (shape is
// checked here: counts and sizes are whole records; permission, busy, not_primary and
// session statuses hold for every event of the session alike), so one caller's events
// cannot fail its neighbours' at request level: per-event failures stay per event. The
// exception is rate_limited for the client's events_per_second, charged per request:
// undone by sending the callers again one request each (splitLocked, below).
//
// Exactly-once is the request's: a merged request has one number and one frame, and is
// resent whole with that number after a reconnect, restart of the server or failover,
// like any request.

// coalesceKey is what requests must share to be merged: the operation, the flags and,
// with Config.RouteByShard, the shard the caller's events were routed to.
type coalesceKey struct {
	operation model.Operation
	flags     uint8
	shard     uint16
}

// part is one caller's share of a request: events [first, first+count), the index-th
// caller's (Call.parts).
type part struct {
	call        *Call
	first       int
	count       int
	index       int
	resultBytes int // Bytes of one result (0: the whole reply body is the caller's).
	// The shared wait (watchLocked): a watcher selects on the request's completion and
	// its context's end and then closes watch; a follower, whose context ends with the
	// same channel, waits for watch alone. Both nil: the caller selects on its own.
	watch    chan struct{}
	follower bool
}

// coalescing reports whether calls of this operation may be merged.
func (c *Client) coalescing(operation model.Operation) bool {
	if c.config.CoalesceEventsMax < 0 {
		return false
	}
	return operation == model.OperationCreateAccounts ||
		operation == model.OperationCreateTransfers
}

// submit sends count events (encoded in body) of operation, merged into a forming
// request when one has room; openChain says the last event opens a chain (the request
// then takes no more events). The returned part is waited with part.wait. It is a value:
// with hundreds of one-event callers, one allocation per caller less.
//
// A new request takes a window slot at once when one is free. When the window is full
// it still forms (so callers arriving meanwhile join it) and the client's admission
// goroutine (admitter) waits for the slot, bounded by the client's life rather than one
// caller's context:
// the request belongs to every caller in it. A request formed open to more callers (not
// full, no open chain) also needs a slot of openRequests: at most
// openRequestsPendingMax of them are admitted and unanswered at once, so while one is
// on its way the next one forms and gathers the callers that arrive until it is
// answered (as Nagle's algorithm holds small segments while one is unacknowledged).
// A request is numbered only when admitted, so numbers follow the outbox order and a
// request every caller left before admission never takes one. Requests waiting for a
// slot are admitted in the order they were formed, and a new one queues behind them
// even when a slot is free: a caller's runs (submitted in turn) are numbered, hence
// applied, in order.
func (c *Client) submit(ctx context.Context, key coalesceKey, body []byte, count int,
	openChain bool) (part, error) {
	return c.submitRun(ctx, key, body, nil, count, openChain, false, false)
}

// submitRun is submit for one run of a batch; followed says more runs of the same call
// follow it at once. Such a run takes no slot of openRequests even when formed open: it
// was cut short by a linked chain (chunks), and holding it back would have the caller's
// own next run wait for its reply, one round trip per run, where a lone caller's runs are
// pipelined (openRequestsPendingMax).
//
// The events are body, encoded; or, with one not nil (body nil, count 1), that transfer,
// which is encoded straight into the request's frame under mu (appendEvents): a
// one-transfer caller (createTransfer) then writes no copy of it on its own stack
// first, two cache lines of a stack it comes back to cold after every call, and the
// frame takes one copy less (bench/PERFORMANCE.md, issue 15, session 53).
func (c *Client) submitRun(ctx context.Context, key coalesceKey, body []byte,
	one *model.Transfer, count int, openChain, followed, single bool) (part, error) {
	operation, flags := key.operation, key.flags
	resultBytes := mergedResultBytes(operation, flags)
	weightBytes := min(int64(wire.HeaderSize+count*resultBytes), int64(c.config.InflightBytesMax))
	if err := c.acquireBytes(ctx, weightBytes); err != nil {
		return part{}, err
	}
	// mu is released on each return below rather than deferred: this runs once per
	// call, and a deferred unlock cost about 20 instructions more (session 46).
	c.mu.Lock()
	if c.closed {
		c.windowBytes.Release(weightBytes)
		err := c.closedError()
		c.mu.Unlock()
		return part{}, err
	}
	if c.rejoinTimer != nil { // Rejoin on: count the callers back.
		c.rejoinArrived++
		if c.rejoinCall != nil && c.rejoinArrived >= c.rejoinTarget {
			// The last one back: it joins below, before the admission can take mu again.
			c.signalRejoinLocked()
		}
	}
	if p, joined := c.joinLocked(key, body, one, count, openChain, followed, weightBytes,
		resultBytes); joined {
		c.watchLocked(&p, ctx, single)
		c.mu.Unlock()
		return p, nil
	}
	p := c.formLocked(ctx, key, body, one, count, openChain, followed, single, weightBytes,
		resultBytes)
	c.mu.Unlock()
	return p, nil
}

// formLocked is submitRun for a caller that found no forming request to join: it forms
// one, and admits it or queues its admission. A function of its own, so that the
// joining callers (all but about one in several hundred with 512 one-transfer callers)
// run in submitRun's frame without the room this path's locals take: a smaller stack
// span to come back to cold after each call (bench/PERFORMANCE.md, issue 15, session
// 53). Called with mu held, the client not closed.
func (c *Client) formLocked(ctx context.Context, key coalesceKey, body []byte,
	one *model.Transfer, count int, openChain, followed, single bool, weightBytes int64,
	resultBytes int) part {
	operation, flags := key.operation, key.flags
	info, _ := operation.Info()
	call := &Call{Operation: operation, client: c, complete: make(chan struct{}),
		weightBytes: weightBytes, waiters: 1, flags: flags, outboxSlot: -1, events: count,
		key: key, followed: followed}
	call.body = c.formingBufferLocked(c.formingCapacity(eventsBytes(body, one), info.EventSize))
	// The header is written when sealed.
	call.body = appendEvents(call.body[:wire.HeaderSize], body, one)
	open := count < c.config.CoalesceEventsMax && !openChain
	p := part{call: call, first: 0, count: count, resultBytes: resultBytes}
	if open {
		c.forming[key] = call
		c.formingRecent = call
		c.watchLocked(&p, ctx, single) // Nobody can join a request formed closed.
	}
	needsOpenSlot := open && !followed && c.openRequests != nil
	call.replyBytes = int64(count * resultBytes)
	rejoin := needsOpenSlot && c.rejoinTimer != nil && c.rejoinReleased >= rejoinCallersMin
	if !rejoin && c.admitting == 0 && len(c.windowQueue) == 0 &&
		c.insideWindowLocked(call.replyBytes) && c.trySlots(call, needsOpenSlot) {
		c.admitLocked(call, true)
	} else {
		c.queueAdmissionLocked(call, needsOpenSlot)
	}
	return p
}

// mergedResultBytes is the size of one result of a merged operation's event, with the
// request's flags: a direct answer for the two operations merged (coalescing) rather
// than a copy of the operation's whole model.OperationInfo on every call.
func mergedResultBytes(operation model.Operation, flags uint8) int {
	switch {
	case flags&requestFlagReplyBalances != 0:
		return model.EventResultBalancesSize
	case operation == model.OperationCreateTransfers || operation == model.OperationCreateAccounts:
		return model.EventResultSize
	}
	info, _ := operation.Info()
	return info.ResultSize
}

// queueAdmissionLocked queues the admission of call (admit) behind the requests already
// waiting for a slot, if any: admitted after them, so that numbers follow the order of
// submission (one caller's runs in order). Called with mu held, the client not closed.
func (c *Client) queueAdmissionLocked(call *Call, needsOpenSlot bool) {
	c.admitting++
	c.admitQueue = append(c.admitQueue, admission{call: call, needsOpenSlot: needsOpenSlot})
	if !c.admitterRunning {
		if c.admitWake == nil {
			c.admitWake = make(chan struct{}, 1)
		}
		c.admitterRunning = true
		c.done.Add(1) // Not closed (checked under mu by the caller): shutdown waits for it.
		go c.admitter()
		return
	}
	select {
	case c.admitWake <- struct{}{}:
	default: // A wake-up is pending already.
	}
}

// admission is a request in the admission queue (Client.admitQueue): it waits for a
// window slot and, with needsOpenSlot, a slot of openRequests.
type admission struct {
	call          *Call
	needsOpenSlot bool
}

// admitter admits the queued requests one at a time, in the order they were queued
// (admit), for the client's life. One goroutine for them all, started with the first
// and kept, rather than one per request chained to the one before: with 512 one-transfer
// callers and one merged request open at a time (openRequestsPendingMax), every merged
// request goes through this queue, and a goroutine per request cost its creation and,
// as it writes the request (admitLocked), the growth of a new goroutine's stack twice,
// about 150 instructions per call, where the kept goroutine's stack has grown once
// (callgrind, bench/PERFORMANCE.md, issue 15, session 46). It returns once the client is
// closed (or its lifetime over) and the queue empty: every request queued before is
// admitted or failed.
func (c *Client) admitter() {
	defer c.done.Done()
	c.mu.Lock()
	for {
		for c.admitHead == len(c.admitQueue) {
			// Its lifetime ends only after the client is closed (shutdown), but a
			// client whose lifetime ended while not closed (a test's hand-made one) left
			// it spinning on that closed channel for good: three such took the CPU from
			// every later test of the package (TestLeft49bAdmitterStopsWithTheLifetime).
			if c.closed || c.lifetime.Err() != nil {
				c.admitterRunning = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			select {
			case <-c.admitWake:
			case <-c.lifetime.Done(): // Ends only once the client is closed (shutdown).
			}
			c.mu.Lock()
		}
		next := c.popAdmissionLocked()
		c.mu.Unlock()
		c.admit(next.call, next.needsOpenSlot)
		c.mu.Lock()
	}
}

// popAdmissionLocked takes the first request of the admission queue, which is not empty.
// In constant time, amortised: a request split one per caller (splitLocked) queues up
// to a full request's callers at once. Called with mu held.
func (c *Client) popAdmissionLocked() admission {
	next := c.admitQueue[c.admitHead]
	c.admitQueue[c.admitHead] = admission{}
	c.admitHead++
	switch {
	case c.admitHead == len(c.admitQueue): // Empty: the array is reused from its start.
		c.admitQueue, c.admitHead = c.admitQueue[:0], 0
	case c.admitHead > len(c.admitQueue)/2: // Keeps the array within twice the queue.
		kept := copy(c.admitQueue, c.admitQueue[c.admitHead:])
		clear(c.admitQueue[kept:])
		c.admitQueue, c.admitHead = c.admitQueue[:kept], 0
	}
	return next
}

// The shared wait. Callers merged into one request usually pass one context (a load
// generator's, a server's per-shutdown one): each selecting on it and on the request's
// completion, 512 callers queued on, and locked, that one context's channel, about a
// tenth of the CPU of sequent bench's 512 callers (session 39's profile, bench/PERFORMANCE.md
// issue 15). So the first caller of a request whose context can end, and whose call is one
// request (a batch of several waits for its requests in turn, so it would watch this
// one late), becomes the request's watcher: it selects on both, then closes the
// watch channel, whichever came first. Every later caller whose context ends with the
// same channel is a follower: it receives from the watch channel only, one channel no
// one else's request shares, and finds out from the request's completion why it was
// woken. A follower is woken as soon as the watcher would be, plus one hand-off (the
// watcher's close): the watcher waits for nothing but this request. Where it would wait
// for something else (a cork to flush: its write may take as long as the socket does),
// it resigns first, closing the watch channel, and its followers then select on their
// own (part.wait).

// watchLocked makes p the watcher or a follower of its request's shared wait, or leaves
// it to select on its own (above); single says the caller's call is this one request.
// Called with mu held, on a forming request (nobody completes it before it is sent).
func (c *Client) watchLocked(p *part, ctx context.Context, single bool) {
	done := ctx.Done()
	if done == nil {
		return // A receive alone already (part.wait).
	}
	call := p.call
	switch {
	case call.watchDone == done:
		p.watch, p.follower = call.watch, true
	case call.watchDone == nil && single:
		call.watchDone, call.watch = done, make(chan struct{})
		p.watch = call.watch
	}
}

// admit waits for a window slot (and, with needsOpenSlot, a slot of openRequests) for a
// request that could not take them when formed, then numbers and queues it (or drops
// it when every caller left meanwhile). Such requests are admitted one at a time in the
// order they were formed (admitter).
func (c *Client) admit(call *Call, needsOpenSlot bool) {
	err := c.acquireSlots(call, needsOpenSlot)
	c.mu.Lock()
	if err == nil && call.waiters > 0 {
		// Room in the exactly-once window too (window.go), still ahead of the requests
		// queued after this one; false only when the client stops (handled below).
		// Given up once every caller left (handled below), waking on leave.
		c.waitInsideWindow(c.lifetime.Done(), func() int64 { return call.replyBytes },
			func() bool { return call.waiters > 0 })
	}
	c.admitting--
	switch {
	case err != nil || c.closed:
		if err == nil {
			c.releaseSlots(needsOpenSlot)
		}
		c.closeFormingLocked(call)
		stopped := c.closedError()
		c.mu.Unlock()
		call.fail(stopped) // Not pending: shutdown did not fail it.
		return
	case call.waiters == 0:
		c.releaseSlots(needsOpenSlot) // Every caller left: never sent, never numbered.
		c.mu.Unlock()
		return
	}
	call.holdsWindow = true
	call.holdsOpen.Store(needsOpenSlot)
	c.admitLocked(call, false) // Its callers may be waiting already: a cork does not hold it.
	c.mu.Unlock()
}

// openRequestsPendingMax bounds the merged requests formed open to more callers that are
// admitted and not yet answered (Client.openRequests). One, as TigerBeetle's clients keep
// one request in flight. Without the bound, with 512 one-transfer callers on one
// connection (BenchmarkCallersDurable), every free window slot let the next few callers
// leave in a request of their own, which the server, between two syncs, logged as an
// entry and an fdatasync of its own; merged requests carried 86 events on average with
// a window of 4 and 5 with the default 128, against 262 with the bound, whatever the
// window (about half the callers: the other half waits for the sync in progress). A
// request formed full (a batch's full chunk) or ending in an open chain takes no such
// slot and keeps the window's pipelining, as do a batch's runs followed by more of its
// runs (submitRun) and the requests of Go and Do. A request answered with a status it
// is resent after (busy, ...) gives its slot back then
// (resendOrDropLocked): waiting out its backoff, and perhaps refused again and again, it
// would otherwise hold back every caller's merged request behind it; so does one kept
// pending after its callers left (failCaller), which nobody waits for. A lone caller
// never finds a request of its own still pending: its latency does not change. The
// price: a request waiting in the admission queue for the open slot holds back those
// formed after it (one queue, in order), a full one too, by up to a round trip; and
// beyond a full request of callers per round trip, the full requests leave one per
// round trip. Off with RouteByShard: requests for different shards, which sync on
// their own, would wait for one another in that queue.
const openRequestsPendingMax = 1

// trySlots takes, without waiting, a window slot for call and, with needsOpenSlot, a slot
// of openRequests; it takes neither and reports false when one is not free.
func (c *Client) trySlots(call *Call, needsOpenSlot bool) bool {
	if needsOpenSlot && !c.openRequests.TryAcquire(1) {
		return false
	}
	if !c.window.TryAcquire(1) {
		if needsOpenSlot {
			c.openRequests.Release(1)
		}
		return false
	}
	call.holdsWindow = true
	call.holdsOpen.Store(needsOpenSlot)
	return true
}

// acquireSlots waits for the slots trySlots takes for call, bounded by the client's
// lifetime: the slot of openRequests first, then the window's, always in that order (a
// request holding a window slot never waits for an open one, so the holders of either
// wait only for replies, which need nothing of them). The rejoin wait (holdForRejoin)
// comes in between, holding the open slot only: with the window's slot too, the
// requests of Go and Do would wait for it, and with a window of one a caller that sends
// one of them before its next merged call could never come back to end it. On an error
// it holds neither.
func (c *Client) acquireSlots(call *Call, needsOpenSlot bool) error {
	if needsOpenSlot {
		if err := c.openRequests.Acquire(c.lifetime, 1); err != nil {
			return err
		}
		if c.rejoinTimer != nil {
			c.holdForRejoin(call)
		}
	}
	if err := c.window.Acquire(c.lifetime, 1); err != nil {
		if needsOpenSlot {
			c.openRequests.Release(1)
		}
		return err
	}
	return nil
}

// releaseSlots gives back the slots acquireSlots took for a request that is not admitted.
func (c *Client) releaseSlots(needsOpenSlot bool) {
	c.window.Release(1)
	if needsOpenSlot {
		c.openRequests.Release(1)
	}
}

// admitLocked numbers a request holding a window slot, makes it pending and queues it:
// still forming, it takes an outbox slot filled when sealed. Submitted by its caller
// (corkable), it is written unless a cork is held (Client.Cork). Called with mu held.
func (c *Client) admitLocked(call *Call, corkable bool) {
	c.numberLocked(call, call.replyBytes)
	c.pending[call.Number] = call
	if c.forming[call.key] == call {
		call.outboxSlot = len(c.outbox)
		c.queueLocked(call, nil) // Filled when sealed.
	} else {
		c.queueLocked(call, c.encodeRequest(call))
	}
	if corkable {
		c.writeUnlessCorkedLocked()
	} else {
		c.writeLocked()
	}
}

// formingCapacity is the first capacity of a forming request's frame: its header and
// room for a few more callers' events without growing, never more than a full request.
func (c *Client) formingCapacity(bodyBytes, eventSize int) int {
	return wire.HeaderSize + min(max(bodyBytes, coalesceFirstEvents*eventSize),
		c.config.CoalesceEventsMax*eventSize)
}

// joinLocked appends the events to the forming request of key when it has room and
// returns the caller's part; false when there is none. Called with mu held.
func (c *Client) joinLocked(key coalesceKey, body []byte, one *model.Transfer, count int,
	openChain, followed bool, weightBytes int64, resultBytes int) (part, bool) {
	call := c.formingRecent // Most often the one sought: one key in use (no map lookup).
	if call == nil || call.key != key {
		call = c.forming[key]
	}
	if call == nil {
		return part{}, false
	}
	replyBytes := int64(count * resultBytes)
	if call.events+count > c.config.CoalesceEventsMax ||
		(call.Number != 0 && !c.insideWindowLocked(replyBytes)) {
		// The caller starts the next request (this one is full, or numbered and the
		// caller's results would take it beyond the exactly-once window, window.go),
		// which takes the forming place: close this one first, or it would stay open with
		// nobody to seal it (a request already queued would keep a nil outbox slot, never
		// be written, and hang its callers).
		c.closeFormingLocked(call)
		return part{}, false
	}
	if call.parts == nil { // The second caller: the first one's part is recorded too.
		call.parts = append(c.partsBufferLocked(),
			callerPart{end: call.events, followed: call.followed})
	}
	call.parts = append(call.parts, callerPart{end: call.events + count, followed: followed})
	p := part{call: call, first: call.events, count: count, index: len(call.parts) - 1,
		resultBytes: resultBytes}
	if size := len(call.body) + eventsBytes(body, one); size > cap(call.body) {
		call.body = c.growFormingLocked(call.body, size)
	}
	call.body = appendEvents(call.body, body, one)
	call.events += count
	call.replyBytes += replyBytes
	if call.Number != 0 {
		c.numberedBytes += replyBytes // Numbered already: its reply grows by this.
	}
	call.weightBytes += weightBytes
	call.waiters++
	if openChain || call.events == c.config.CoalesceEventsMax {
		c.closeFormingLocked(call) // Nothing may follow an open chain; a full request is done.
	}
	return p, true
}

// eventsBytes is the size of the events submitRun takes: body, or one transfer.
func eventsBytes(body []byte, one *model.Transfer) int {
	if one != nil {
		return model.TransferSize
	}
	return len(body)
}

// appendEvents appends the events submitRun takes to a request's frame: body, or one
// transfer encoded in place (Encode writes each of its bytes: nothing to clear first).
// The callers made room already; it grows the frame otherwise.
func appendEvents(frame, body []byte, one *model.Transfer) []byte {
	if one == nil {
		return append(frame, body...)
	}
	size := len(frame)
	frame = slices.Grow(frame, model.TransferSize)[:size+model.TransferSize]
	one.Encode(frame[size:])
	return frame
}

// closeFormingLocked closes a forming request to joiners and, once it is queued, encodes
// it into its outbox slot. Called with mu held.
func (c *Client) closeFormingLocked(call *Call) {
	if c.forming[call.key] == call {
		delete(c.forming, call.key)
	}
	if c.formingRecent == call {
		c.formingRecent = nil
	}
	if call == c.rejoinCall {
		c.signalRejoinLocked() // Nobody can join it any more.
	}
	if call.outboxSlot >= 0 {
		c.outbox[call.outboxSlot] = c.encodeRequest(call)
		call.outboxSlot = -1
	}
}

// sealAllLocked seals every queued forming request: before a writer takes the outbox and
// before the outbox is dropped or rebuilt (a lost connection, a new one), so every
// pending request has its frame for resends. Requests still waiting for a window slot
// stay open. Called with mu held.
func (c *Client) sealAllLocked() {
	for _, call := range c.forming {
		if call.outboxSlot >= 0 {
			c.closeFormingLocked(call)
		}
	}
}

// encodeRequest seals the call's frame: its body holds a header-sized gap followed by
// the events, and the header is written in front of them in place.
func (c *Client) encodeRequest(call *Call) []byte {
	// Direct calls, not one through a function value: the header passed to a function
	// value escapes, an allocation per request.
	header := wire.Frame{Kind: wire.KindRequest, Operation: call.Operation,
		Flags: call.flags, Session: c.session, Number: call.Number}
	if c.config.UncheckedFrames {
		wire.PutFrameUnchecked(call.body, &header, len(call.body)-wire.HeaderSize)
	} else {
		wire.PutFrame(call.body, &header, len(call.body)-wire.HeaderSize)
	}
	call.frame, call.body = call.body, nil
	return call.frame
}

// wait waits for the part's request and returns the caller's results: the request's
// reply body cut to them (the whole body when resultBytes is 0). When ctx ends first,
// the caller stops waiting (its error says whether its events may be applied: leave);
// the request is abandoned only when no caller waits any more.
// Only the body: both callers (batch, createTransfer) want nothing else of the reply,
// and the 64-byte Reply copied through two returns was ~50 instructions a call
// (session 47). A merged request refused rate_limited whole is sent again one request
// per caller (splitLocked): the caller then waits for its own, and gets its outcome.
func (p *part) wait(ctx context.Context) ([]byte, error) {
	for {
		body, alone, err := p.waitOnce(ctx)
		if alone == nil {
			return body, err
		}
		// Its own request now: selected on alone, nothing shared with other callers.
		*p = part{call: alone, count: p.count, resultBytes: p.resultBytes}
	}
}

// waitOnce is wait for the part's request as it stands; alone, when not nil, is the
// request the caller's events were sent again in (splitLocked): wait for that one.
func (p *part) waitOnce(ctx context.Context) ([]byte, *Call, error) {
	call := p.call
	watch := p.watch
	if call.client.corks.Load() != 0 {
		// flushCorked, and first a watcher resigns: the write may make it the
		// connection's writer, held in the write of other requests for as long as the
		// socket takes them, when its followers must see their answer or their context's
		// end at once. Closing watch sends them to select on their own (below).
		if watch != nil && !p.follower {
			close(watch)
			watch = nil
		}
		call.client.writeHeldBack()
	}
	ended := false // The caller's context ended before the request completed.
	// In the shared wait the context's channel is the request's watchDone (watchLocked
	// compared or stored it, and never changes it once set): a second ctx.Done (an
	// interface call and an atomic load, ~30 instructions) per call spared (session 47).
	// Read only by a caller in that wait: for another, a later caller may be setting it.
	var done <-chan struct{}
	if p.watch != nil {
		done = call.watchDone
	} else {
		done = ctx.Done()
	}
	switch {
	case done == nil:
		<-call.complete // A context that never ends: a receive is cheaper than a select.
	case p.follower:
		// Closed by the watcher once the request completed or the context ended, or when
		// it resigned (above): then this caller selects on its own. When the watcher saw
		// the completion (watchCompleted, written before the close), there is nothing to
		// find out: no look at complete, whose lock the request's hundreds of followers
		// would otherwise each take in turn, on both cores (session 46).
		<-watch
		if !call.watchCompleted {
			select {
			case <-call.complete:
			default:
				select {
				case <-call.complete:
				case <-done:
					ended = true
				}
			}
		}
	default:
		select {
		case <-call.complete:
		case <-done:
			ended = true
		}
		if watch != nil {
			call.watchCompleted = !ended
			close(watch) // The watcher: its followers find out why.
		}
	}
	if ended {
		last, alone, err := call.client.leave(call, p.index, ctx.Err())
		if alone != nil {
			return nil, alone, nil // Split meanwhile: leave that one (its wait).
		}
		if !last {
			return nil, nil, err
		}
		<-call.complete
	}
	if call.Err != nil {
		return nil, nil, call.Err
	}
	reply := &call.Reply
	if reply.Status != model.StatusOK {
		if call.split {
			if alone := call.client.aloneCall(call, p.index); alone != nil {
				return nil, alone, nil
			}
			// Not sent again (callerPart.followed): the caller gets the refusal.
		}
		return nil, nil, &StatusError{Operation: call.Operation, Number: call.Number,
			Status: reply.Status, Primary: primaryOf(reply)}
	}
	if p.resultBytes == 0 {
		return reply.Body, nil, nil
	}
	if len(reply.Body) != call.events*p.resultBytes {
		return nil, nil, fmt.Errorf("client: %s request %d: %d result bytes for %d events",
			call.Operation, call.Number, len(reply.Body), call.events)
	}
	return reply.Body[p.first*p.resultBytes : (p.first+p.count)*p.resultBytes], nil, nil
}

// aloneCall returns the request the index-th caller of split request call was sent
// again in (splitLocked).
func (c *Client) aloneCall(call *Call, index int) *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return call.parts[index].alone
}

// leave records that one waiter of call stopped waiting because of err (its context
// ended), and returns the error that waiter gets. The last one abandons the call: it
// leaves the pending set (a queued forming request is sealed first, so it is still
// written as numbered; one not yet admitted is never sent), unless it was answered busy
// before and a copy of it is on its way (abandonPendingLocked); it gets what abandon
// would give it: an *OutcomeUnknownError wrapping err when a copy may have been applied
// or may still be (endedErrorLocked), else err. Any other waiter's events go on in the
// request for the waiters left, sent (or sent again) whatever it left: its outcome is
// unknown, an *OutcomeUnknownError wrapping err. It reports whether the waiter was the
// last (the call is then completed: with the error returned, unless a reply won, or
// whoever took it out of the pending set completes it; the waiter waits for that).
//
// A waiter of a request split meanwhile (splitLocked) is not counted out of it: alone is
// the request its events were sent again in, which it leaves instead (wait).
func (c *Client) leave(call *Call, index int, err error) (bool, *Call, error) {
	c.mu.Lock()
	if call.split {
		alone := call.parts[index].alone
		c.mu.Unlock()
		if alone == nil {
			return false, nil, err // Refused, not sent again (callerPart.followed).
		}
		return false, alone, nil
	}
	if call.parts != nil {
		call.parts[index].left = true // Not sent again if the request is split.
	}
	call.waiters--
	last := call.waiters == 0
	kept, pending := false, call.Number != 0 && c.pending[call.Number] == call
	// Numbered and no longer pending: complete, or being completed by whoever took it
	// out of the pending set (a reply, Close, a protocol error naming it) as soon as mu is
	// released; the last waiter waits for that, as abandon leaves it alone.
	completing := call.Number != 0 && !pending
	if !last {
		err = &OutcomeUnknownError{Operation: call.Operation, Number: call.Number,
			Status: model.StatusOutcomeUnknown, Err: err}
	} else {
		c.closeFormingLocked(call)
		if pending {
			err = c.endedErrorLocked(call, err, 0)
			kept = c.abandonPendingLocked(call)
		}
		// Wakes window.go's waiters: this one's admit, if it waits there, gives up.
		c.leftPendingLocked()
	}
	c.mu.Unlock()
	switch {
	case kept:
		call.failCaller(err)
	case last && !completing:
		call.fail(err)
	}
	return last, nil, err
}

// Rejoin: with one merged request open at a time (openRequestsPendingMax), the callers a
// reply releases call again while the next request, formed during that round trip by
// the callers before them, is already being admitted: they miss it and ride in the one
// after, so many concurrent callers split into two groups that take turns, each sync
// carrying half of them. When a merged request of at least rejoinCallersMin callers is
// answered, the admission of the next one (holding the open slot, not yet numbered) waits
// until as many callers as that answer released have joined it, or it can take no more
// (full, or closed by an open chain), or RejoinWait passes, whichever comes first; then
// it is numbered and sent as usual. A lone caller, or a few, never wait after their own
// answers: those release fewer than rejoinCallersMin. The bound runs from the answer,
// not from the next request: a burst, a pause longer than RejoinWait, then one call pays
// nothing (the callers were not coming back). Callers of any merged operation count as
// back (doc.go says why: the error is on the side of latency).

// rejoinCallersMin is the smallest answered merged request whose callers the next one
// waits for.
const rejoinCallersMin = 32

// RejoinWaitDefault is Config.RejoinWait's default: measured best of 200 µs, 500 µs and
// 1 ms end to end with 512 callers on the loaded 2-core VM (bench/PERFORMANCE.md, issue 15), where
// woken callers wait hundreds of microseconds for a CPU; 200 µs ended most holds before
// they were back. The wait is not free: the log's sync no longer overlaps the callers'
// return (with two groups it did), so it pays only while a sync costs more than that
// return; the in-process benchmark, whose callers are lighter, did not gain.
const RejoinWaitDefault = time.Millisecond

// holdForRejoin is admit's wait for the callers the last answered merged request
// released (above), for call, which holds the open slot.
func (c *Client) holdForRejoin(call *Call) {
	c.mu.Lock()
	released := c.rejoinReleased
	c.rejoinReleased = 0
	if released < rejoinCallersMin || c.forming[call.key] != call || c.closed {
		c.mu.Unlock()
		return
	}
	if c.rejoinArrived >= released {
		c.mu.Unlock()
		return // They are back already.
	}
	wait := c.config.RejoinWait - c.now().Sub(c.rejoinAnsweredAt)
	if wait <= 0 {
		c.mu.Unlock()
		return // The bound has passed since the answer.
	}
	c.rejoinCall, c.rejoinTarget = call, released
	select {
	case <-c.rejoinReady: // A stale signal of an earlier wait.
	default:
	}
	c.mu.Unlock()
	c.rejoinTimer.Reset(wait)
	select {
	case <-c.rejoinReady:
	case <-c.rejoinTimer.C:
	case <-c.lifetime.Done():
	}
	c.rejoinTimer.Stop()
	c.mu.Lock()
	c.rejoinCall = nil
	c.mu.Unlock()
}

// signalRejoinLocked ends holdForRejoin's wait. Called with mu held.
func (c *Client) signalRejoinLocked() {
	select {
	case c.rejoinReady <- struct{}{}:
	default:
	}
}

// Merged requests and the client's rate limit. The server charges a request's events to
// the client's events_per_second bucket, which holds one second of them, and refuses the
// whole request rate_limited, applying none of it, when they do not fit (PROTOCOL.md §6):
// the one request-level status of these operations that depends on the events. Merged,
// a caller within its rate alone would be refused for its neighbours' events, and a
// request of more events than the bucket holds would never be admitted. So a merged
// request refused rate_limited with none of its copies possibly applied (every copy sent
// answered, each with a refusal at once: none lost with a connection, none answered
// outcome_unknown) is sent again one request per caller still waiting, in the merged
// order, each under a new number (the refused number was not recorded by the server: it
// stays unused, as a skipped one), each with its caller's share of the window's reply
// bytes; each caller then gets the outcome of its own request, rate_limited included, as
// had it been sent alone. A merged request whose outcome is unknown cannot be split
// (a copy may be applied: resending its events under new numbers could apply them twice):
// resent whole, it is refused for as long as its events do not fit the bucket.

// callerPart is one caller's share of a merged request: where its events end, whether
// its caller left (then its events are not sent again when the request is split), whether
// they are a run of a batch followed by more of its runs (submitRun), and the request
// they were sent again in. A followed run is not sent again either: its caller's later
// runs are formed already, ahead of it in the admission queue, and a batch's requests are
// applied in its order (CreateTransfers); its caller gets the refusal, rate_limited, as
// a batch one request of which is refused at request level.
type callerPart struct {
	end      int
	left     bool
	followed bool
	alone    *Call
}

// callerPartsReuseCountMax bounds the free list of part lists (Client.freeParts), as
// formingReuseCountMax bounds that of merged frames: the same requests use them.
const callerPartsReuseCountMax = formingReuseCountMax

// partsBufferLocked returns an empty part list for a request a second caller joins: one
// a completed request left (keepPartsLocked), so that merged requests in a steady stream
// allocate none. Called with mu held.
func (c *Client) partsBufferLocked() []callerPart {
	if parts, ok := popFree(&c.freeParts); ok {
		return parts
	}
	return make([]callerPart, 0, coalesceFirstEvents)
}

// keepPartsLocked puts the part list of a request completed with a reply, not split, on
// the free list: nothing reads it any more (a late leave finds parts nil). Called with
// mu held.
func (c *Client) keepPartsLocked(call *Call) {
	if call.parts == nil || call.split {
		return
	}
	if len(c.freeParts) < callerPartsReuseCountMax {
		clear(call.parts)
		c.freeParts = append(c.freeParts, call.parts[:0])
	}
	call.parts = nil
}

// splittable reports whether call, answered status, is a merged request to send again
// one request per caller (above): refused rate_limited, with callers waiting, and no copy
// of it possibly applied. unanswered counts this answer already. Called with mu held.
func (call *Call) splittable(status model.Status) bool {
	return status == model.StatusRateLimited && len(call.parts) > 1 && call.waiters > 0 &&
		!call.abandoned && call.unanswered == 0 && !call.lostCopy && !call.answeredUnknown
}

// splitLocked takes call, a merged request refused rate_limited whole (splittable), out of
// the pending set and sends each waiting caller's events again as a request of its own
// (but a followed run's, callerPart), in order, through the admission queue (admit: a
// window slot each, numbered when admitted; never written from here, the reader's
// goroutine). Each new request takes its caller's share of call's reply bytes in
// windowBytes; call gives back the rest (its callers that left, its followed runs) and
// its slots when completed. The caller completes call after
// releasing mu; its waiters find their requests through call.parts (wait). Called with mu
// held, the client not closed.
func (c *Client) splitLocked(call *Call) {
	c.leavePendingLocked(call)
	info, _ := call.Operation.Info()
	resultBytes := mergedResultBytes(call.Operation, call.flags)
	events := call.frame[wire.HeaderSize:]
	first := 0
	for i := range call.parts {
		share := &call.parts[i]
		count := share.end - first
		body := events[first*info.EventSize : share.end*info.EventSize]
		first = share.end
		if share.left || share.followed {
			continue
		}
		weightBytes := min(int64(wire.HeaderSize+count*resultBytes),
			int64(c.config.InflightBytesMax))
		call.weightBytes -= weightBytes
		alone := &Call{Operation: call.Operation, client: c, complete: make(chan struct{}),
			weightBytes: weightBytes, waiters: 1, flags: call.flags, outboxSlot: -1,
			events: count, key: call.key, replyBytes: int64(count * resultBytes)}
		alone.body = c.formingBufferLocked(wire.HeaderSize + len(body))
		alone.body = append(alone.body[:wire.HeaderSize], body...) // Header when sealed.
		share.alone = alone
		c.queueAdmissionLocked(alone, false)
	}
	call.split = true
	c.recycleFrameLocked(call) // Its events are copied out.
}
