package client

import (
	"context"
	"errors"
	"slices"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Report is one execution report: its per-client sequence and the encoded record
// (decode it with the matching engine's record type from core/model).
type Report struct {
	Sequence uint64
	Body     []byte // Owned by the handler.
}

// Subscribed describes a completed subscription (or its resumption after a reconnect).
type Subscribed struct {
	// OldestSequence is the oldest report the server still retained; if it is above the
	// sequence asked for, the reports in between are lost to replay.
	OldestSequence uint64
	// ReplayedThrough is the last sequence sent during the replay (0 if none).
	ReplayedThrough uint64
	// NextSequence is the sequence from which the reports after the replay are new (the
	// client's next at the server; 0 from a server that predates it). For a live
	// subscription (from 0) it is the first report the handler can be given. Below the
	// sequence asked for, the reports from it up to the one asked for minus 1, which were
	// handled, were lost in a failover and their sequences number new reports, which the
	// handler is given (PROTOCOL.md section 8): reconcile by querying orders.
	NextSequence uint64
}

// subscription is the client's report subscription; its handler runs on the reader
// goroutine, in sequence order, with duplicates (after a reconnect) removed.
type subscription struct {
	handler  func(Report)
	lastSeen uint64          // Highest sequence handed to the handler.
	live     bool            // From 0: no replay was asked for.
	ready    chan Subscribed // Receives the first Subscribed (buffered).
	status   chan error      // Receives a refusal of the first subscription (buffered).
	// established is set once the server accepted the subscription (guarded by the
	// client's mutex): later refusals are of a resumption after a reconnect, which
	// nobody is waiting on, so they are retried rather than reported.
	established bool
	retryDelay  time.Duration // Next wait before resubscribing after a busy answer.
	// askedFrom is the from_sequence of the last subscribe frame built (guarded by the
	// client's mutex): a resumption's answer is compared with it, not with lastSeen,
	// because the replay before that answer may already have moved lastSeen past a gap.
	askedFrom uint64
}

// Resubscription back-off after a busy answer (the server's replay slots were taken,
// typically right after a failover when every client reconnects at once).
const (
	resubscribeDelayFirst = 50 * time.Millisecond
	resubscribeDelayMax   = 2 * time.Second
)

// frame is the subscribe frame that resumes the subscription after lastSeen.
func (s *subscription) frame(session uint64) []byte {
	from := s.lastSeen + 1
	if s.live && s.lastSeen == 0 {
		from = 0
	}
	s.askedFrom = from
	body := make([]byte, wire.SubscribeSize)
	(&wire.Subscribe{FromSequence: from}).Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: session},
		body)
}

// ErrSubscribed is returned by Subscribe on a client that already has a subscription.
var ErrSubscribed = errors.New("client: already subscribed")

// Subscribe starts delivery of this client's execution reports to handler, replaying the
// retained ones from fromSequence on (0: live reports only). It returns once the replay
// is complete (or with ErrClosed if the client is closed first). After a reconnect the
// subscription resumes by itself after the last sequence handled, so the handler sees
// each report once, in order. The handler runs on the connection's reader goroutine:
// keep it short, and never wait in it for a call's reply (the reader delivers replies:
// only a reconnect or Close ends such a wait). It may call Close, or wait for another
// goroutine's, which does not wait for a reader running a handler. The handler is not
// entered once Close has begun; a call entered just before may start, or still run,
// after Close returns.
func (c *Client) Subscribe(ctx context.Context, fromSequence uint64,
	handler func(Report)) (Subscribed, error) {
	s := &subscription{handler: handler, live: fromSequence == 0,
		ready: make(chan Subscribed, 1), status: make(chan error, 1)}
	if fromSequence > 0 {
		s.lastSeen = fromSequence - 1
	}
	c.mu.Lock()
	if c.subscription != nil {
		c.mu.Unlock()
		return Subscribed{}, ErrSubscribed
	}
	if c.closed {
		err := c.closedError()
		c.mu.Unlock()
		return Subscribed{}, err
	}
	c.subscription = s
	c.outbox = append(c.outbox, s.frame(c.session))
	c.writeLocked()
	c.mu.Unlock()
	select {
	case subscribed := <-s.ready:
		return subscribed, nil
	case err := <-s.status:
		return Subscribed{}, err
	case <-c.stop: // Closed (or stopped by a fatal error): no answer will be read.
		return Subscribed{}, c.stoppedError()
	case <-ctx.Done():
		return Subscribed{}, ctx.Err()
	}
}

// stoppedError is what a subscription call waiting for its answer returns once the
// client has stopped (c.stop closed): ErrClosed, or the fatal error that stopped it.
func (c *Client) stoppedError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedError()
}

// report hands one report, read on connection generation, to the handler unless it was
// already handled or that connection has been replaced: its reader may still hand over
// what it had buffered (it was in a handler when the loss was noticed elsewhere), but the
// resumption on the new connection asked for every report after the last one handled by
// then, and a later one counted here would move the duplicate filter past it: after a
// failover that lost that report, the new primary's report with its sequence would be
// dropped, with no sign of a gap.
func (c *Client) report(frame *wire.Frame, generation uint64) {
	c.mu.Lock()
	s := c.subscription
	if s == nil || frame.Aux <= s.lastSeen || c.generation != generation {
		c.mu.Unlock()
		return
	}
	if !c.enterHandlerLocked() {
		c.mu.Unlock()
		return
	}
	s.lastSeen = frame.Aux
	c.mu.Unlock()
	// Deferred: a handler may leave by runtime.Goexit (t.Fatal in a test), and a count
	// left raised would change every later Close (enterHandlerLocked). An open-coded
	// defer: no allocation.
	defer c.leaveHandler()
	s.handler(Report{Sequence: frame.Aux, Body: slices.Clone(frame.Body)})
}

// enterHandlerLocked notes that a reader is about to run a report or market-data
// handler: code outside the client, which may call Close or wait for a call's reply, so
// Close does not wait for that reader (shutdown). It reports false, the handler not to
// be called, once the client is closed: Close may have returned already, and its
// caller expects no more calls (the one from which Close was called has returned, or is
// that call). Called with mu held.
func (c *Client) enterHandlerLocked() bool {
	if c.closed {
		return false
	}
	c.handlers++
	return true
}

// leaveHandler notes that a handler entered with enterHandlerLocked returned.
func (c *Client) leaveHandler() {
	c.mu.Lock()
	c.handlers--
	c.mu.Unlock()
}

// subscribed completes a (re)subscription. A refusal of the first Subscribe is reported
// to it and ends the subscription. A refused resumption after a reconnect is retried
// after a back-off when busy (the server's replay slots were all taken) or rate limited
// (a subscribe counts as a request); any other refusal ends the subscription with an
// error in the log, never silently. An answer read on a connection since replaced
// (generation) is ignored: it answers a subscribe frame the new connection's resumption
// has superseded.
//
// Whether the answer is stale is decided in the locked block that applies it
// (subscribedLocked), and the reconnector builds the resumption under the same mutex
// (install): either the answer is applied first and the resumption asks from the filter
// it moved, or the resumption comes first and the answer is ignored. With the check in
// a block of its own, a reconnect in between let a replaced connection's answer move
// the filter (or end a live subscription's liveness) after the new connection's
// resumption was built from the filter before it. What follows the block (log, gap
// callbacks, the first caller's answer, the retry) acts on what the block applied even
// if a reconnect comes meanwhile, and is not rechecked: a gap callback tells of a filter
// move the resumption was then built from, whose reports the handler will be given
// (skipping it would hide a reuse); the retry is bound to this answer's connection
// (resubscribeLater).
func (c *Client) subscribed(frame *wire.Frame, generation uint64) {
	var body wire.Subscribed
	status := model.Status(frame.Status)
	if status == model.StatusOK {
		body.Decode(frame.Body)
	}
	c.mu.Lock()
	s := c.subscription
	if s == nil || c.generation != generation {
		c.mu.Unlock()
		return
	}
	outcome := c.subscribedLocked(s, status, frame.Aux)
	c.mu.Unlock()
	if testHookAnswerApplied != nil {
		testHookAnswerApplied(frame.Kind)
	}
	switch {
	case outcome.retryDelay != 0:
		c.log.Warn("client: report resubscription busy; retrying", "delay",
			outcome.retryDelay, "status", status.String())
		c.resubscribeLater(s, outcome.retryDelay, generation)
	case status != model.StatusOK:
		if outcome.established {
			c.log.Error("client: report subscription refused after a reconnect; reports stop",
				"status", status.String())
		}
		select {
		case s.status <- &StatusError{Status: status}:
		default:
		}
	default:
		c.subscribedAnnounce(s, outcome, body, frame.Aux)
	}
}

// subscribedOutcome is what subscribedLocked applied, for what subscribed does after it.
type subscribedOutcome struct {
	established bool          // A resumption's answer: the subscription was accepted before.
	askedFrom   uint64        // from_sequence of the subscribe frame answered.
	lostFrom    uint64        // The first report a loss can name: after the last handled.
	reused      bool          // Server behind askedFrom: handled sequences number new reports.
	retryDelay  time.Duration // Not 0: a refused resumption, sent again after this delay.
}

// subscribedLocked applies an answer of the current connection to s, the subscription:
// the retry back-off, the end of a refused subscription, or the duplicate filter's move.
// Called with mu held.
func (c *Client) subscribedLocked(s *subscription, status model.Status,
	next uint64) subscribedOutcome {
	// The reports replayed before this answer were handled already (report), so the
	// first one a loss can name is after the last handled: a replay that the server's
	// window overran stops there (PROTOCOL.md section 8), below oldest_sequence.
	outcome := subscribedOutcome{established: s.established, askedFrom: s.askedFrom,
		lostFrom: max(s.askedFrom, s.lastSeen+1)}
	if status != model.StatusOK {
		if s.established && (status == model.StatusBusy || status == model.StatusRateLimited) {
			s.retryDelay = min(max(2*s.retryDelay, resubscribeDelayFirst), resubscribeDelayMax)
			outcome.retryDelay = s.retryDelay
			return outcome
		}
		c.subscription = nil
		return outcome
	}
	s.established, s.retryDelay = true, 0
	// next is next_sequence (wire.Subscribed), 0 from a server before it. The duplicate
	// filter (report) moves to next-1 in two cases. A server behind the sequence asked
	// for (reused) lost reports the handler was given (a failover) and numbers new ones
	// from next: they must reach the handler, which the filter would drop as handled; no
	// report of this connection came before this frame (the server sends none below the
	// one asked for during the replay, and every other after it). A live subscription
	// (from 0) is delivered every report from next on, so the ones before count as
	// handled (one below that, made just before the subscription, may still follow this
	// frame and is dropped): its resumption then asks from next, not from 0, which would
	// skip the reports made while it is disconnected. Either way the subscription is no
	// longer live (a filter back at 0 must still resume from 1). A server before next
	// answers 0: nothing changes.
	outcome.reused = outcome.askedFrom != 0 && next != 0 && next < outcome.askedFrom
	if outcome.reused {
		s.lastSeen, s.live = min(s.lastSeen, next-1), false
	} else if outcome.askedFrom == 0 && next != 0 {
		s.lastSeen, s.live = max(s.lastSeen, next-1), false
	}
	return outcome
}

// subscribedAnnounce tells of an accepted (re)subscription: the gaps a resumption found
// (a resumption asked for the reports after the last one handled; the first Subscribe's
// caller gets OldestSequence and NextSequence and judges for itself, and from 0 asks
// for no replay at all), and the first Subscribe's answer.
func (c *Client) subscribedAnnounce(s *subscription, outcome subscribedOutcome,
	body wire.Subscribed, next uint64) {
	askedFrom := outcome.askedFrom
	if outcome.established && askedFrom != 0 && body.OldestSequence > outcome.lostFrom {
		c.log.Error("client: execution reports lost: the server no longer holds them; "+
			"reconcile by querying orders", "first", outcome.lostFrom,
			"last", body.OldestSequence-1)
		c.reportGap(c.config.ReportsLost, outcome.lostFrom, body.OldestSequence-1)
	}
	if outcome.established && outcome.reused {
		c.log.Error("client: execution reports handled were lost in a failover; their "+
			"sequences now number new reports; reconcile by querying orders",
			"first", next, "last", askedFrom-1)
		c.reportGap(c.config.ReportsReused, next, askedFrom-1)
	}
	select {
	case s.ready <- Subscribed{OldestSequence: body.OldestSequence,
		ReplayedThrough: body.ReplayedThrough, NextSequence: next}:
	default:
	}
}

// reportGap calls callback (Config.ReportsLost or ReportsReused, if set) on the reader
// goroutine as a handler (enterHandlerLocked): it may call Close, which does not wait for
// a reader running a handler (otherwise the reader would wait for Close and Close for the
// reader, for ever), and it is not called once Close has begun.
func (c *Client) reportGap(callback func(first, last uint64), first, last uint64) {
	if callback == nil {
		return
	}
	c.mu.Lock()
	entered := c.enterHandlerLocked()
	c.mu.Unlock()
	if !entered {
		return
	}
	defer c.leaveHandler() // Even if the callback leaves by runtime.Goexit.
	callback(first, last)
}

// ExecutionReport decodes the report's body; ok is false if it is not one.
func (r Report) ExecutionReport() (report model.ExecutionReport, ok bool) {
	if len(r.Body) != model.ExecutionReportSize {
		return model.ExecutionReport{}, false
	}
	report.Decode(r.Body)
	return report, true
}

// resubscribeLater sends the resumption of s again, on the connection that refused it
// (generation), after delay, unless the subscription, the client or that connection has
// ended meanwhile. The generation is the refusal's, not the one current when this runs:
// a reconnect in between has sent its own resumption, and a second subscribe on one
// connection is a protocol error (unexpected_frame, which ends the reports).
func (c *Client) resubscribeLater(s *subscription, delay time.Duration, generation uint64) {
	afterDelay(delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.subscription != s || c.closed || c.generation != generation {
			return
		}
		c.outbox = append(c.outbox, s.frame(c.session))
		c.writeLocked()
	})
}
