package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/wire"
)

// Report is one execution report: its per-client sequence and the encoded record
// (decode it with the matching engine's record type from core/model).
type Report struct {
	Sequence uint64
	Body     []byte // Owned by the handler.
	// Shard is the shard that made the report: the one SubscribeShard named, or for
	// Subscribe the map's default instrument shard when the client had read the map
	// (ShardMap) before Subscribe, else 0, the same for every report of that
	// subscription (the frame's header number is the subscription's label, 0 for
	// Subscribe). Sequences are per (client, shard).
	Shard uint16
}

// Subscribed describes a completed subscription (or its resumption after a reconnect).
// Its caller compares it with the sequence it asked from. If the connection was lost
// after the replay began and before the answer, the answer is the resumption's, which
// asked from after the last report handled: the gaps it finds beyond what this shows
// are told by Config.ReportsLost and ReportsReused, each sequence once.
type Subscribed struct {
	// OldestSequence is the oldest report the server still retained; if it is above the
	// sequence asked for, the reports from that one up to OldestSequence-1 that the
	// handler was not given before the answer are lost. The replay begins at the oldest
	// report retained (PROTOCOL.md section 8), so with ReplayedThrough 0 or at least
	// OldestSequence that is all of them; with ReplayedThrough below OldestSequence the
	// server's window overran the replay (OldestSequence was set above the reports it had
	// not reached), and the lost ones are those below the first report replayed and those
	// after ReplayedThrough. If the answer is a resumption's (above), it is the first
	// report replayed, and the reports before it from the sequence asked for were lost
	// likewise.
	OldestSequence uint64
	// ReplayedThrough is the last sequence sent during the replay (0 if none), across
	// the connections if the answer is a resumption's.
	ReplayedThrough uint64
	// NextSequence is the sequence from which the reports after the replay are new (the
	// client's next at the server; 0 from a server that predates it). For a live
	// subscription (from 0) it is the first report the handler can be given. Below the
	// sequence asked for, the reports from it up to the one asked for minus 1, which were
	// handled, were lost in a failover and their sequences number new reports, which the
	// handler is given (PROTOCOL.md section 8): reconcile by querying orders. If the
	// answer is a resumption's, ReportsReused tells the reused reports from the sequence
	// asked for on.
	NextSequence uint64
	// Shard is the shard whose reports the subscription carries: the one named, or for
	// Subscribe the default instrument shard when the map was read before it (else 0).
	Shard uint16
}

// subscription is the client's report subscription; its handler runs on the reader
// goroutine, in sequence order, with duplicates (after a reconnect) removed.
type subscription struct {
	// named: made by SubscribeShard, for shard's reports (subscribe body's shard field
	// shard+1); else Subscribe's, for the default instrument shard's (field 0).
	named bool
	shard uint16
	// defaultShard is, for Subscribe's, the default instrument shard as known when it was
	// made (0 if the map was not read): its Report.Shard, fixed for its life, so that a
	// map read later does not move one stream's reports to another shard midway.
	defaultShard uint16
	handler      func(Report)
	lastSeen     uint64          // Highest sequence handed to the handler, or told lost.
	live         bool            // From 0: no replay was asked for.
	ready        chan Subscribed // Receives the first Subscribed (buffered).
	status       chan error      // Receives a refusal of the first subscription (buffered).
	// established is set once the server accepted the subscription (guarded by the
	// client's mutex): later refusals are of a resumption after a reconnect, which
	// nobody is waiting on, so they are retried rather than reported.
	established bool
	retryDelay  time.Duration // Next wait before resubscribing after a busy answer.
	// askedFrom is the from_sequence of the last subscribe frame built (guarded by the
	// client's mutex): a resumption's answer is compared with it, not with lastSeen,
	// because the replay before that answer may already have moved lastSeen past a gap.
	askedFrom uint64
	// callerFrom is the fromSequence Subscribe was called with (0: live), and
	// firstHandled the first sequence handed to the handler (0: none yet): when the
	// first answer comes to a resumption, which asked after reports the handler was
	// given, the caller's Subscribed is told from them (subscribedLocked).
	callerFrom   uint64
	firstHandled uint64
	// askedFirst is the first sequence handed to the handler since the last subscribe
	// frame was built (0: none), and askedAnswered whether that frame was answered ok
	// (guarded by the client's mutex). A replay begins at the oldest report the server
	// holds when that is above the sequence asked for (PROTOCOL.md section 8): its
	// answer then finds the reports from askedFrom to askedFirst-1 lost, which lastSeen,
	// moved by the replay, no longer shows; unanswered, the next frame tells them.
	askedFirst    uint64
	askedAnswered bool
	// callerGone is set (guarded by the client's mutex) when the first caller's context
	// ended before an answer was applied: it returned the context's error and reads no
	// Subscribed, so the first answer's gaps are told by the callbacks, as a
	// resumption's are (subscribedLocked).
	callerGone bool
	// answer is the first Subscribe's answer, set (guarded by the client's mutex) when
	// it is applied, with established: a caller whose context ends after that returns it
	// at once (subscribeAbandoned) rather than wait for s.ready, which follows the gap
	// callbacks (subscribedAnnounce), user code that may wait for that very caller.
	answer Subscribed
	// gaps are the gaps found by answers and not yet told (guarded by the client's
	// mutex); gapsTelling is not nil while a reader tells the ones it took, and closed
	// when it is done. A gap is told before any report is handed over after it was found
	// (settleGapsLocked), so a reader of a newer connection waits for it.
	gaps        [gapsPendingMax]pendingGap
	gapCount    int
	gapsTelling chan struct{}
}

// pendingGap is a gap an answer found: sequences first..last, lost (never handled) or
// reused (handled, and now numbering new reports).
type pendingGap struct {
	first, last uint64
	reused      bool
	named       bool   // Of a SubscribeShard subscription: the shard callbacks tell it.
	shard       uint16 // Its shard, when named.
}

// gapsPendingMax bounds the gaps pending at once: one answer finds at most four (the
// loss below the first replay of a first Subscribe whose caller has gone, the loss below
// its own replay, the loss after it, and a reuse; subscribedLocked), and the gaps of an
// answer are all told before the next answer is applied (subscribed settles them first)
// or a report handed over; a resumption whose answer never came adds one (frame) only
// after a report was handed over since, so none is pending then.
const gapsPendingMax = 4

// Resubscription back-off after a busy answer (the server's replay slots were taken,
// typically right after a failover when every client reconnects at once).
const (
	resubscribeDelayFirst = 50 * time.Millisecond
	resubscribeDelayMax   = 2 * time.Second
)

// nextResubscribeDelay is the back-off after a resumption refused busy (or rate limited,
// or not primary for market data) after a retry delay of previous: doubled, from
// resubscribeDelayFirst up to resubscribeDelayMax.
func nextResubscribeDelay(previous time.Duration) time.Duration {
	return min(max(2*previous, resubscribeDelayFirst), resubscribeDelayMax)
}

// frame is the subscribe frame that resumes the subscription after lastSeen. Called with
// the client's mutex held.
func (s *subscription) frame(session uint64) []byte {
	// The previous frame's replay began above the sequence it asked for and its
	// connection was lost before the answer that would have told the loss below it
	// (lostGapsLocked): it is told before the next report
	// (settleGapsLocked), unless that frame was the first Subscribe's own, whose answer
	// tells it from firstHandled (subscribedAnswer, lostGapsLocked). A report was handed
	// over since the frame, and no answer came, so no gap is pending.
	if !s.askedAnswered && s.askedFrom != 0 && s.askedFirst > s.askedFrom &&
		(s.established || s.askedFrom != s.callerFrom) {
		s.addGapLocked(pendingGap{first: s.askedFrom, last: s.askedFirst - 1})
	}
	from := s.lastSeen + 1
	if s.live && s.lastSeen == 0 {
		from = 0
	}
	s.askedFrom, s.askedFirst, s.askedAnswered = from, 0, false
	subscribe := wire.Subscribe{FromSequence: from}
	if s.named {
		subscribe.Shard = uint64(s.shard) + 1
	}
	body := make([]byte, wire.SubscribeSize)
	subscribe.Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: session},
		body)
}

// ErrSubscribed is returned by Subscribe on a client that already has a subscription.
var ErrSubscribed = errors.New("client: already subscribed")

// Subscribe starts delivery of this client's execution reports to handler, replaying the
// retained ones from fromSequence on (0: live reports only). On a node of several shards
// these are the default instrument shard's reports only, as before streams per shard
// (SubscribeShard and SubscribeEveryShard give the others). It returns once the replay
// is complete (or with ErrClosed if the client is closed first). Called with a ctx that
// has ended, it returns ctx's error and subscribes nothing (no frame is sent). If ctx
// ends later, before the answer is read, it returns ctx's error but the subscription
// stays (the protocol has no way to end it on the connection): the handler is given the
// reports, the gaps the answer finds are told by Config.ReportsLost and ReportsReused
// (the Subscribed that would have shown them is read by nobody), and a later Subscribe
// returns ErrSubscribed, unless the server refused it (then nothing is subscribed).
// After a reconnect the subscription resumes by itself after the last sequence handled
// (or told lost: a loss is told once), so the handler sees each report once, in order.
// The handler runs on the connection's reader goroutine, one call at a time per client
// (of this handler, the market-data one and ReportsLost/ReportsReused), and a newer
// connection's calls start only once the replaced one's have returned (doc.go,
// Subscriptions across reconnects): keep it short, and never wait in it for a call's
// reply (the readers deliver replies, and the newer connection's reader waits for the
// handler before it reads past a report or an update: only Close surely ends such a
// wait). It may call Close, or wait for another goroutine's, which does not wait for a
// reader running a handler. The handler is not entered once Close has begun; a call
// entered just before may start, or still run, after Close returns.
func (c *Client) Subscribe(ctx context.Context, fromSequence uint64,
	handler func(Report)) (Subscribed, error) {
	return c.subscribe(ctx, newSubscription(fromSequence, handler))
}

// SubscribeShard is Subscribe for one shard's reports (PROTOCOL.md section 18: each shard
// of a node numbers a client's reports on its own, from 1), fromSequence being a
// sequence of that shard's. Each shard's subscription resumes after its own last report
// handled; the handler learns the shard from Report.Shard. One subscription per shard,
// and none beside Subscribe's, whose default instrument shard is one of them
// (ErrSubscribed). A shard the server does not have is refused: a StatusError with
// StatusInvalidBody. Gaps are told by Config.ShardReportsLost and ShardReportsReused
// when set (ReportsLost and ReportsReused otherwise). It reads the shard map first
// (once per client). A server before streams per shard answers with header number 0
// (PROTOCOL.md section 4): its subscription is the default instrument shard's, kept if
// that is shard; otherwise SubscribeShard returns ErrShardReportsUnsupported and the
// default shard's reports that connection carries are ignored, and on that connection
// every later SubscribeShard fails likewise without sending anything (a second
// subscribe would close it). That is known per connection: after a reconnect the
// subscriptions kept are resumed, the default instrument shard's first.
func (c *Client) SubscribeShard(ctx context.Context, shard uint16, fromSequence uint64,
	handler func(Report)) (Subscribed, error) {
	if shard >= shardmap.ShardsMax {
		// No node has it, and the server takes a field above its bound for the default
		// shard (the field was once reserved): refused here as the server would.
		return Subscribed{}, &StatusError{Status: model.StatusInvalidBody}
	}
	// The default instrument shard tells whether the answer of a server before streams
	// per shard (number 0) carries this shard's reports: the map is asked once. A server
	// that refuses the query leaves it unknown, and such an answer is then taken as not
	// this shard's (ErrShardReportsUnsupported), whatever the shard.
	if _, err := c.ShardMap(ctx); err != nil {
		var refused *StatusError
		if !errors.As(err, &refused) {
			return Subscribed{}, err
		}
	}
	s := newSubscription(fromSequence, handler)
	s.named, s.shard = true, shard
	return c.subscribe(ctx, s)
}

// SubscribeEveryShard subscribes to the reports of every shard of the server's map
// (ShardMap, asked once), shard by shard, each from fromSequences[shard] (0, or a
// missing entry: live only), every shard's reports going to handler. The default
// instrument shard is subscribed first: a server before streams per shard answers it
// with number 0, and then only that shard's subscription is made, the others failing
// with ErrShardReportsUnsupported (wrapped per shard, joined) and no further subscribe
// sent. It returns one answer per shard, indexed by shard (zero for a shard not
// subscribed); on any other error it stops, the shards subscribed before it staying
// subscribed, and, when the error is ctx's, the shard it was waiting for too unless the
// server refused it (SubscribeShard: the subscription stays when the context ends
// after its frame was sent and before its answer; a shard whose call began with the
// context ended is not subscribed).
func (c *Client) SubscribeEveryShard(ctx context.Context, fromSequences []uint64,
	handler func(Report)) ([]Subscribed, error) {
	placement, err := c.ShardMap(ctx)
	if err != nil {
		return nil, err
	}
	answers := make([]Subscribed, placement.Shards)
	order := make([]uint16, 0, placement.Shards)
	order = append(order, placement.InstrumentDefault)
	for shard := range placement.Shards {
		if shard != placement.InstrumentDefault {
			order = append(order, shard)
		}
	}
	var unsupported []error
	for _, shard := range order {
		var from uint64
		if int(shard) < len(fromSequences) {
			from = fromSequences[shard]
		}
		answer, err := c.SubscribeShard(ctx, shard, from, handler)
		switch {
		case errors.Is(err, ErrShardReportsUnsupported):
			unsupported = append(unsupported, err)
		case err != nil:
			return answers, fmt.Errorf("client: reports of shard %d: %w", shard, err)
		default:
			answers[shard] = answer
		}
	}
	return answers, errors.Join(unsupported...)
}

// newSubscription is a subscription from fromSequence (0: live).
func newSubscription(fromSequence uint64, handler func(Report)) *subscription {
	s := &subscription{handler: handler, live: fromSequence == 0, callerFrom: fromSequence,
		ready: make(chan Subscribed, 1), status: make(chan error, 1)}
	if fromSequence > 0 {
		s.lastSeen = fromSequence - 1
	}
	return s
}

// subscribe installs s, sends its frame and waits for its answer.
func (c *Client) subscribe(ctx context.Context, s *subscription) (Subscribed, error) {
	c.mu.Lock()
	if c.subscription != nil || (s.named && c.shardSubscriptionLocked(s.shard) != nil) ||
		(!s.named && len(c.shardSubscriptions) > 0) {
		c.mu.Unlock()
		return Subscribed{}, ErrSubscribed
	}
	if c.closed {
		err := c.closedError()
		c.mu.Unlock()
		return Subscribed{}, err
	}
	if err := ctx.Err(); err != nil {
		// Ended before anything was sent: nothing is installed (the subscription stays
		// only when the context ends after its frame, which may have been accepted).
		c.mu.Unlock()
		return Subscribed{}, err
	}
	if s.named {
		if c.shardStreams == shardStreamsOlder {
			c.mu.Unlock()
			return Subscribed{}, fmt.Errorf("client: reports of shard %d: %w", s.shard,
				ErrShardReportsUnsupported)
		}
		c.shardSubscriptions = append(c.shardSubscriptions, s)
		c.sendNamedLocked(s)
	} else {
		s.defaultShard, _ = c.defaultShardLocked()
		c.subscription = s
		c.outbox = append(c.outbox, s.frame(c.session))
	}
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
		return c.subscribeAbandoned(ctx, s)
	}
}

// subscribeAbandoned ends the wait of a first Subscribe (or SubscribeShard) whose context
// ended. The subscription stays: nothing ends one on a connection (a second subscribe
// there is unexpected_frame), so its handler is given the reports that follow. If no
// answer was applied yet, the caller returns the context's error and the answer's gaps,
// which only its Subscribed would have shown, are told by the callbacks instead
// (callerGone; before they would go untold, not even logged); a refusal still ends the
// subscription. If an accepted answer was applied already, it is returned (s.answer):
// its gaps are in it alone. It is not waited for on s.ready, which comes only after the
// callbacks have told the gaps a resumption's answer found (subscribedAnnounce): one
// that waits for this caller would hold it past its context's end.
func (c *Client) subscribeAbandoned(ctx context.Context, s *subscription) (Subscribed, error) {
	c.mu.Lock()
	established, answer := s.established, s.answer
	if !established {
		s.callerGone = true
	}
	c.mu.Unlock()
	if testHookSubscribeAbandoned != nil {
		testHookSubscribeAbandoned()
	}
	if !established {
		return Subscribed{}, ctx.Err()
	}
	return answer, nil
}

// shardSubscriptionLocked is SubscribeShard's subscription of shard, or nil. Called with
// mu held.
func (c *Client) shardSubscriptionLocked(shard uint16) *subscription {
	for _, s := range c.shardSubscriptions {
		if s.shard == shard {
			return s
		}
	}
	return nil
}

// subscriptionForLocked is the subscription a report or subscribed frame belongs to, by
// its header number, the label of the subscribe frame it answers (PROTOCOL.md section
// 4): 0 is Subscribe's, s+1 SubscribeShard's of shard s. A 0 with no Subscribe is from
// a server before streams per shard answering the named subscription it took (the
// probe): the default instrument shard's reports, so that subscription's only if it
// names that shard (else nil: ignored). Called with mu held.
func (c *Client) subscriptionForLocked(number uint64) *subscription {
	if number != 0 {
		if number > shardmap.ShardsMax {
			return nil
		}
		return c.shardSubscriptionLocked(uint16(number - 1))
	}
	if c.subscription != nil {
		return c.subscription
	}
	if c.shardStreams == shardStreamsPerShard || c.shardProbe == nil {
		return nil
	}
	if shard, known := c.defaultShardLocked(); !known || c.shardProbe.shard != shard {
		return nil
	}
	return c.shardProbe
}

// reportShardLocked is the shard whose reports s carries: the one named, or for
// Subscribe the default instrument shard if the map was known when it was made (else 0).
// Called with mu held.
func (c *Client) reportShardLocked(s *subscription) uint16 {
	if s.named {
		return s.shard
	}
	return s.defaultShard
}

// dropSubscriptionLocked ends s (a refusal). Called with mu held.
func (c *Client) dropSubscriptionLocked(s *subscription) {
	if c.subscription == s {
		c.subscription = nil
		return
	}
	c.shardSubscriptions = slices.DeleteFunc(c.shardSubscriptions,
		func(kept *subscription) bool { return kept == s })
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
//
// The gaps found before it are told first (settleGapsLocked), which may release the
// mutex: what was checked is checked again after.
func (c *Client) report(frame *wire.Frame, generation uint64) {
	c.mu.Lock()
	s := c.subscriptionForLocked(frame.Number)
	if s == nil || frame.Aux <= s.lastSeen || c.generation != generation {
		c.mu.Unlock()
		return
	}
	// The handlers of older connections return first (handlerTurnLocked), and only then
	// are the gaps settled: a reader of an older connection may take them meanwhile.
	if !c.handlerTurnLocked(generation) {
		c.mu.Unlock()
		return
	}
	c.settleGapsLocked(s)
	if c.subscriptionForLocked(frame.Number) != s || frame.Aux <= s.lastSeen ||
		c.generation != generation {
		c.mu.Unlock()
		return
	}
	// The turn holds: no reader of an older connection enters a handler once this one is
	// current, and the gap callbacks settleGapsLocked told or waited for have returned.
	// So this does not wait, and what was checked above still holds.
	if !c.enterHandlerLocked(generation) {
		c.mu.Unlock()
		return
	}
	s.lastSeen = frame.Aux
	if s.firstHandled == 0 {
		s.firstHandled = frame.Aux
	}
	if s.askedFirst == 0 {
		s.askedFirst = frame.Aux
	}
	shard := c.reportShardLocked(s)
	c.mu.Unlock()
	// Deferred: a handler may leave by runtime.Goexit (t.Fatal in a test), and a count
	// left raised would change every later Close (enterHandlerLocked). An open-coded
	// defer: no allocation.
	defer c.leaveHandler()
	s.handler(Report{Sequence: frame.Aux, Body: slices.Clone(frame.Body),
		Shard: shard})
}

// enterHandlerLocked notes that a reader of connection generation is about to run a
// report or market-data handler (or a gap callback): code outside the client, which may
// call Close or wait for a call's reply, so Close does not wait for that reader
// (shutdown). It reports false, the handler not to be called, once the client is
// closed (Close may have returned already, and its caller expects no more calls: the
// one from which Close was called has returned, or is that call), or once generation is
// no longer the current connection. It first waits for its turn (handlerTurnLocked),
// releasing mu meanwhile if another handler runs. Called with mu held.
func (c *Client) enterHandlerLocked(generation uint64) bool {
	if !c.handlerTurnLocked(generation) {
		return false
	}
	c.handlers++
	return true
}

// handlerTurnLocked waits until no handler runs (report, market data or gap callback,
// of any connection), and reports whether generation may run one: the client is not
// closed and generation is the current connection. This is what makes the handlers'
// order a promise of the client's rather than of each connection's: the reader of a
// replaced connection may still be in a handler (or about to run one with what it had
// buffered) when the new connection's reader has frames to hand over, and the two
// calls would otherwise run side by side, or the new one first. A handler of
// connection k+1 starts only once every handler of k has returned, and none of k starts
// once k+1 is current (the generation check), so none after k+1's first. One call at a
// time, not only one connection's at a time: a gap callback may be told by the reader
// of a replaced connection (callGap), beside the current one's market-data handler.
//
// The wait holds no lock: the handler it waits for may call the client (Close,
// SubscribeMarketData, Go). It ends when the client stops (c.stop, closed by shutdown
// after closed is set), so a handler of k that calls Close never waits for k+1's reader,
// nor that reader for it. A handler of k waiting for a call's reply still waits for
// ever if the reply comes on k+1 behind a report or an update: that reader reads
// nothing past the frame it holds (Subscribe: never wait in a handler for a reply).
// Called with mu held; releases it while waiting: the caller checks again what it
// checked.
func (c *Client) handlerTurnLocked(generation uint64) bool {
	for {
		if c.closed || c.generation != generation {
			return false
		}
		if c.handlers == 0 {
			return true
		}
		if c.handlersReturned == nil {
			c.handlersReturned = make(chan struct{})
		}
		returned := c.handlersReturned
		c.mu.Unlock()
		if testHookHandlerTurnWait != nil {
			testHookHandlerTurnWait()
		}
		select {
		case <-returned:
		case <-c.stop:
		}
		c.mu.Lock()
	}
}

// leaveHandler notes that a handler entered with enterHandlerLocked returned, waking the
// readers waiting for their turn once none runs.
func (c *Client) leaveHandler() {
	c.mu.Lock()
	c.handlers--
	if c.handlers == 0 && c.handlersReturned != nil {
		close(c.handlersReturned)
		c.handlersReturned = nil
	}
	c.mu.Unlock()
}

// subscribed completes a (re)subscription. A refusal of the first Subscribe's frame is
// reported to it and ends the subscription. A refused resumption after a reconnect (also
// one sent before the first answer, once the handler was given reports) is retried
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
// resumption was built from the filter before it. The gaps the block finds wait in the
// subscription, and are told by this reader after it or by the newer connection's
// reader before it hands over a report, whichever comes first (settleGapsLocked): a gap
// tells of a filter move the resumption was then built from, whose reports the handler
// will be given after the callback (skipping it would hide a reuse). What else follows
// the block (the first caller's answer, the retry) acts on what it applied even if a
// reconnect comes meanwhile, and is not rechecked: the retry is bound to this answer's
// connection (resubscribeLater).
func (c *Client) subscribed(frame *wire.Frame, generation uint64) {
	var body wire.Subscribed
	status := model.Status(frame.Status)
	if status == model.StatusOK {
		body.Decode(frame.Body)
	}
	c.mu.Lock()
	if c.generation != generation {
		c.mu.Unlock()
		return
	}
	if frame.Number != 0 && c.subscriptionForLocked(frame.Number) != nil {
		c.learnShardStreamsLocked()
	} else if frame.Number == 0 && c.subscription == nil && c.shardProbe != nil &&
		c.shardStreams == shardStreamsUnknown {
		c.olderServerLocked()
	}
	s := c.subscriptionForLocked(frame.Number)
	if s == nil {
		c.mu.Unlock()
		return
	}
	// The gaps an earlier answer found are told before this one's are found: at most
	// one answer's gaps are pending (gapsPendingMax). It may release the mutex.
	c.settleGapsLocked(s)
	if c.subscriptionForLocked(frame.Number) != s || c.generation != generation {
		c.mu.Unlock()
		return
	}
	outcome := c.subscribedLocked(s, status, frame.Aux, body)
	outcome.subscribed.Shard = c.reportShardLocked(s)
	if status == model.StatusOK && !outcome.established {
		s.answer = outcome.subscribed
	}
	if s == c.shardProbe && c.shardStreams == shardStreamsOlder && !c.installedLocked(s) {
		// A server before streams per shard refused the probe (busy, rate_limited):
		// nothing is subscribed on this connection, so it takes another subscribe, and
		// the next named one (the caller's retry) is the probe again. Kept, the refused
		// probe would fail that retry (ErrShardReportsUnsupported) and be handed the
		// default shard's reports of whatever the connection subscribes next.
		c.shardStreams, c.shardProbe = shardStreamsUnknown, nil
	}
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
		c.subscribedAnnounce(s, outcome.subscribed)
	}
}

// subscribedOutcome is what subscribedLocked applied, for what subscribed does after it.
type subscribedOutcome struct {
	established bool          // A resumption's answer: the subscription was accepted before.
	subscribed  Subscribed    // The first Subscribe's answer (subscribedLocked).
	retryDelay  time.Duration // Not 0: a refused resumption, sent again after this delay.
}

// subscribedLocked applies an answer of the current connection to s, the subscription:
// the retry back-off, the end of a refused subscription, or the duplicate filter's move
// and the gaps found, which wait in s to be told (settleGapsLocked). Called with mu held,
// and with no gap pending (subscribed settles them first).
func (c *Client) subscribedLocked(s *subscription, status model.Status, next uint64,
	body wire.Subscribed) subscribedOutcome {
	outcome := subscribedOutcome{established: s.established}
	askedFrom := s.askedFrom
	// A resumption's answer (the subscribe frame it answers asked after reports the
	// handler was given) has its gaps told by the callbacks, even if it is the first
	// answer: the first Subscribe's connection was lost after its replay began. Refused
	// busy, it is retried likewise: the handler was given reports, which a caller told
	// "busy" would have handed over again by subscribing anew
	// (TestFirstSubscribeResumptionRefusedBusyIsRetried).
	resumed := s.established || askedFrom != s.callerFrom
	if status != model.StatusOK {
		if resumed && (status == model.StatusBusy || status == model.StatusRateLimited) {
			s.retryDelay = nextResubscribeDelay(s.retryDelay)
			outcome.retryDelay = s.retryDelay
			return outcome
		}
		c.dropSubscriptionLocked(s)
		return outcome
	}
	outcome.subscribed = subscribedAnswer(s, body, next, resumed)
	c.reportsShutDown = 0 // A node that takes report subscriptions (leaveShuttingDown).
	c.leftAddresses = c.leftAddresses[:0]
	// The gaps of an answer nobody reads (the first caller's context ended) are told by
	// the callbacks too.
	told := resumed || s.callerGone
	if told && askedFrom != 0 {
		s.lostGapsLocked(askedFrom, body.OldestSequence, resumed && !s.established)
	}
	s.askedAnswered = true // The next frame has no loss of this one's to tell.
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
	if askedFrom != 0 && next != 0 && next < askedFrom {
		// The first Subscribe's caller compares NextSequence with the sequence it asked
		// from, and sees the part below it: the callback tells the rest, once.
		first := next
		if !outcome.established && !s.callerGone {
			first = max(next, s.callerFrom)
		}
		if told && first < askedFrom {
			s.addGapLocked(pendingGap{first: first, last: askedFrom - 1, reused: true})
		}
		s.lastSeen, s.live = min(s.lastSeen, next-1), false
	} else if askedFrom == 0 && next != 0 {
		s.lastSeen, s.live = max(s.lastSeen, next-1), false
	} else if askedFrom != 0 && body.OldestSequence > s.lastSeen+1 {
		// The reports below oldest_sequence that the replay did not give are lost, and
		// told (lostGapsLocked) or shown to the caller (OldestSequence): the filter moves
		// past them, so that a resumption before the next report asks from
		// oldest_sequence, not for them again, whose answer would tell them twice. Every
		// report from oldest_sequence on is sent (PROTOCOL.md section 8).
		s.lastSeen = body.OldestSequence - 1
	}
	return outcome
}

// lostGapsLocked records the losses an answer to a subscribe from askedFrom (not 0) with
// oldest_sequence oldest finds, when the callbacks tell them (subscribedLocked): the
// reports the server no longer held, which its replay did not give. A replay begins at
// the oldest report held if that is above askedFrom (PROTOCOL.md section 8), so the ones
// below its first report (askedFirst) are lost, even though the reports it gave moved
// lastSeen above oldest. The reports replayed before this answer were handled already
// (report), so a loss after them starts after the last handled: a replay that the
// server's window overran stops there, below oldest_sequence. firstOfResumption: this
// is the first answer, and a resumption's (the first connection was lost after its
// replay began); if the caller has gone, the loss below that first replay, which its
// Subscribed would have shown (subscribedAnswer), is told too. Called with the
// client's mutex held, before the filter moves.
func (s *subscription) lostGapsLocked(askedFrom, oldest uint64, firstOfResumption bool) {
	if firstOfResumption && s.callerGone && s.callerFrom != 0 &&
		s.firstHandled > s.callerFrom {
		s.addGapLocked(pendingGap{first: s.callerFrom, last: s.firstHandled - 1})
	}
	if s.askedFirst > askedFrom {
		s.addGapLocked(pendingGap{first: askedFrom, last: s.askedFirst - 1})
	}
	if lostFrom := max(askedFrom, s.lastSeen+1); oldest > lostFrom {
		s.addGapLocked(pendingGap{first: lostFrom, last: oldest - 1})
	}
}

// subscribedAnswer is the first Subscribe's answer, as its caller reads it: against the
// sequence it asked from. The server's answer to a resumption that asked after reports
// the handler was given (resumed; the first connection was lost after its replay began)
// is to another request: its gaps are told by the callbacks, and the caller is told
// what its own request got, OldestSequence the first report replayed (a replay starts
// at the oldest retained one, if above the one asked for) and ReplayedThrough the last
// report replayed. Compared with the sequence asked from, the server's oldest_sequence
// would count the reports handled before the resumption as lost. Called with mu held,
// before the filter moves.
func subscribedAnswer(s *subscription, body wire.Subscribed, next uint64,
	resumed bool) Subscribed {
	answer := Subscribed{OldestSequence: body.OldestSequence,
		ReplayedThrough: body.ReplayedThrough, NextSequence: next}
	if resumed && !s.established && s.callerFrom != 0 {
		answer.OldestSequence = s.firstHandled
		answer.ReplayedThrough = max(body.ReplayedThrough, s.lastSeen)
	}
	return answer
}

// addGapLocked records a gap an answer (or frame, for one never answered) found, to be
// told before the next report is handed over (settleGapsLocked). Called with the
// client's mutex held.
func (s *subscription) addGapLocked(gap pendingGap) {
	gap.named, gap.shard = s.named, s.shard
	if s.gapCount == len(s.gaps) {
		panic("client: more report gaps pending than one answer finds")
	}
	s.gaps[s.gapCount] = gap
	s.gapCount++
}

// subscribedAnnounce tells the gaps the answer found, unless a reader handing over a
// report told them first, and gives the first Subscribe its answer.
func (c *Client) subscribedAnnounce(s *subscription, subscribed Subscribed) {
	c.mu.Lock()
	c.settleGapsLocked(s)
	c.mu.Unlock()
	select {
	case s.ready <- subscribed:
	default:
	}
}

// settleGapsLocked tells the gaps pending in s, or waits for the reader telling them, so
// that the callbacks come before any report handed over after the gap was found, even
// by the reader of a newer connection (Config.ReportsLost, ReportsReused). Each gap is
// taken by one reader, so told once. The wait ends when the client stops: the reader
// telling may be in a callback that calls Close, which waits for the readers not in a
// handler, this one among them. Once closed nothing is waited for and no callback is
// called (the gaps are still logged).
// Called with mu held; releases it meanwhile: the caller checks again what it checked.
func (c *Client) settleGapsLocked(s *subscription) {
	for s.gapCount > 0 || s.gapsTelling != nil {
		if telling := s.gapsTelling; telling != nil {
			if c.closed {
				break // The pending ones are only logged, below.
			}
			c.mu.Unlock()
			select {
			case <-telling:
			case <-c.stop: // shutdown closes it, with closed set, before it waits for readers.
			}
			c.mu.Lock()
			continue
		}
		gaps, count := s.gaps, s.gapCount
		s.gapCount = 0
		s.gapsTelling = make(chan struct{})
		c.mu.Unlock()
		c.tellGaps(s, gaps[:count])
		c.mu.Lock()
	}
	if s.gapCount > 0 { // Closed while another reader tells: log them, call nothing.
		gaps, count := s.gaps, s.gapCount
		s.gapCount = 0
		c.mu.Unlock()
		for _, gap := range gaps[:count] {
			c.logGap(gap)
		}
		c.mu.Lock()
	}
}

// tellGaps logs gaps and calls their callbacks; then, even if a callback leaves by
// runtime.Goexit, ends the telling that settleGapsLocked began. Called without mu.
func (c *Client) tellGaps(s *subscription, gaps []pendingGap) {
	defer c.toldGaps(s)
	for _, gap := range gaps {
		c.logGap(gap)
		callback := c.config.ReportsLost
		if gap.reused {
			callback = c.config.ReportsReused
		}
		if shardCallback := c.gapShardCallback(gap); shardCallback != nil {
			callback = func(first, last uint64) { shardCallback(gap.shard, first, last) }
		}
		c.callGap(callback, gap.first, gap.last)
	}
}

// gapShardCallback is the shard callback of a SubscribeShard subscription's gap
// (Config.ShardReportsLost or ShardReportsReused), or nil.
func (c *Client) gapShardCallback(gap pendingGap) func(shard uint16, first, last uint64) {
	switch {
	case !gap.named:
		return nil
	case gap.reused:
		return c.config.ShardReportsReused
	default:
		return c.config.ShardReportsLost
	}
}

// toldGaps ends the telling of gaps: the readers waiting for it go on.
func (c *Client) toldGaps(s *subscription) {
	c.mu.Lock()
	close(s.gapsTelling)
	s.gapsTelling = nil
	c.mu.Unlock()
}

// logGap logs a gap found, whether or not its callback is set or called.
func (c *Client) logGap(gap pendingGap) {
	if gap.reused {
		c.log.Error("client: execution reports handled were lost in a failover; their "+
			"sequences now number new reports; reconcile by querying orders",
			"first", gap.first, "last", gap.last, "shard", gap.shard)
		return
	}
	c.log.Error("client: execution reports lost: the server no longer holds them; "+
		"reconcile by querying orders", "first", gap.first, "last", gap.last,
		"shard", gap.shard)
}

// callGap calls callback (Config.ReportsLost or ReportsReused, if set) on the reader
// goroutine as a handler (enterHandlerLocked): it may call Close, which does not wait for
// a reader running a handler (otherwise the reader would wait for Close and Close for the
// reader, for ever), and it is not called once Close has begun.
func (c *Client) callGap(callback func(first, last uint64), first, last uint64) {
	if callback == nil {
		return
	}
	c.mu.Lock()
	// Counted with the current connection, whichever reader tells the gap: a gap is the
	// subscription's, told before the reports after it (settleGapsLocked), and a reader
	// of a replaced connection may be the one telling. A reconnect while it waits for its
	// turn makes it wait for the next one's.
	entered := false
	for !entered && !c.closed {
		entered = c.enterHandlerLocked(c.generation)
	}
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
		if !c.installedLocked(s) || c.closed || c.generation != generation {
			return
		}
		c.outbox = append(c.outbox, s.frame(c.session))
		c.writeLocked()
	})
}

// ErrShardReportsUnsupported is returned (wrapped, naming the shard) by SubscribeShard
// and SubscribeEveryShard when the connection's server predates streams per shard: it
// answered a subscription naming a shard with header number 0 (PROTOCOL.md section 4),
// and carries only the default instrument shard's reports. It is returned for a shard
// other than the default instrument shard, and also for the default one when another
// named subscription was accepted on that connection first (the server took it as the
// default shard's and allows no second subscribe; SubscribeShard calls made at the same
// time race for that). No subscribe frame is sent for such a shard.
var ErrShardReportsUnsupported = errors.New("client: the server has no report streams per shard")

// shardStreamsState is what the current connection's server is known to do with a
// subscribe frame naming a shard. It is per connection: a failover may reach a newer or
// an older server.
type shardStreamsState uint8

const (
	shardStreamsUnknown  shardStreamsState = iota // No answer to a named subscription yet.
	shardStreamsPerShard                          // Answered with the label sent: per shard.
	shardStreamsOlder                             // Answered with 0: the default shard's only.
)

// label is the subscribe frame's shard field of s and the header number of the frames
// answering it on a server with streams per shard: shard+1 when named, else 0.
func (s *subscription) label() uint64 {
	if s.named {
		return uint64(s.shard) + 1
	}
	return 0
}

// defaultShardLocked is the default instrument shard from the shard map if known, else 0
// (a map is read by SubscribeShard and SubscribeEveryShard). Called with mu held.
func (c *Client) defaultShardLocked() (shard uint16, known bool) {
	if c.shardMap == nil {
		return 0, false
	}
	return c.shardMap.InstrumentDefault, true
}

// sendNamedLocked sends s's subscribe frame on the current connection, or defers it
// while another named subscription's answer has not told whether the server has streams
// per shard: a server before them takes a second subscribe on one connection as
// unexpected_frame and closes it. Called with mu held, shardStreams not older.
func (c *Client) sendNamedLocked(s *subscription) {
	if c.shardStreams == shardStreamsUnknown {
		if c.shardProbe != nil {
			c.shardDeferred = append(c.shardDeferred, s)
			return
		}
		c.shardProbe = s
	}
	c.outbox = append(c.outbox, s.frame(c.session))
}

// resetShardStreamsLocked forgets what the replaced connection's server did with named
// subscriptions (install). Called with mu held.
func (c *Client) resetShardStreamsLocked() {
	c.shardStreams, c.shardProbe, c.shardDeferred = shardStreamsUnknown, nil, nil
}

// learnShardStreamsLocked notes that the current connection's server has streams per
// shard (an answer carried a named subscription's label) and sends the deferred
// subscriptions. Called with mu held.
func (c *Client) learnShardStreamsLocked() {
	if c.shardStreams != shardStreamsUnknown {
		return
	}
	c.shardStreams, c.shardProbe = shardStreamsPerShard, nil
	for _, s := range c.shardDeferred {
		c.outbox = append(c.outbox, s.frame(c.session))
	}
	c.shardDeferred = nil
	c.writeLocked()
}

// installedLocked reports whether s is still one of the client's subscriptions. Called
// with mu held.
func (c *Client) installedLocked(s *subscription) bool {
	return c.subscription == s || slices.Contains(c.shardSubscriptions, s)
}

// olderServerLocked notes that the current connection's server predates streams per
// shard: it answered the probe, a named subscription, with header number 0. Its
// subscription is the default instrument shard's: the probe keeps it if it names that
// shard. Otherwise the probe, unless a resumption, ends with ErrShardReportsUnsupported
// and the default shard's reports that connection carries are ignored. The deferred
// subscriptions are not sent on this connection (a second subscribe would close it):
// the callers waiting for a first answer get the error, resumptions wait for the next
// connection. Called with mu held.
func (c *Client) olderServerLocked() {
	c.shardStreams = shardStreamsOlder
	unsupported := []*subscription{}
	if shard, known := c.defaultShardLocked(); !known || c.shardProbe.shard != shard {
		unsupported = append(unsupported, c.shardProbe)
		c.shardProbe = nil
	}
	unsupported = append(unsupported, c.shardDeferred...)
	c.shardDeferred = nil
	for _, s := range unsupported {
		if s.established {
			c.log.Error("client: the server has no report streams per shard; the shard's "+
				"reports resume on a later connection", "shard", s.shard)
			continue
		}
		c.dropSubscriptionLocked(s)
		select {
		case s.status <- fmt.Errorf("client: reports of shard %d: %w", s.shard,
			ErrShardReportsUnsupported):
		default:
		}
	}
}

// leaveShuttingDown makes the reconnect that follows the error frame shutting_down on
// connection generation try the address that sent it last, when the client holds a
// report subscription and knows another address. A fenced node (a deposed primary)
// closes its report subscribers so, and answers a report subscribe there the same way
// (PROTOCOL.md section 8): it numbers no report again, while the primary, at another
// address, does. The reconnect tries the addresses in order, so without this it may
// reach that very node again, and be closed again, for as long as the node stays
// fenced, the reports stopped all the while. Every address closed so in the row is
// kept (leaveAddressLocked) and tried last, not only the latest: two primaries deposed
// in turn are both fenced, and moving one last put the other first. The fenced
// addresses stay in the list, last: one may be the only one reachable. Such losses are counted (reportsShutDown) whether or
// not there is another address, so that the second in a row with no report
// subscription accepted between waits before the reconnect (waitAfterReportsShutDown):
// a fenced node that is the only one reachable (one address, or the others down) would
// otherwise be logged in to and subscribed at in a tight loop.
func (c *Client) leaveShuttingDown(generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation != generation || c.conn == nil || c.closed ||
		c.subscription == nil && len(c.shardSubscriptions) == 0 {
		return
	}
	c.reportsShutDown++
	c.reportsShutDownLoss = true
	closing := c.dialed
	c.leaveAddressLocked(closing)
	if c.otherAddressLocked(closing) {
		c.triedLast = closing
	}
}

// waitAfterReportsShutDown delays a reconnect that follows the second and later
// connections in a row ended by shutting_down while report subscriptions were held
// (leaveShuttingDown) with no report subscription accepted between, doubling from
// ReconnectDelayMin up to ReconnectDelayMax (PROTOCOL.md section 9's back-off for a
// reconnect). The first reconnects at once, so a failover costs no latency. It reports
// false when the client is closed while waiting.
func (c *Client) waitAfterReportsShutDown() bool {
	c.mu.Lock()
	repeats, shutDown := c.reportsShutDown, c.reportsShutDownLoss
	c.reportsShutDownLoss = false
	c.mu.Unlock()
	if !shutDown {
		return true
	}
	return c.backOffAfterRepeats(repeats, ReconnectDelayMin, ReconnectDelayMax,
		"client: report subscriptions closed shutting_down again, waiting before "+
			"reconnecting", "closed")
}

// otherAddressLocked reports whether the client knows an address other than address to
// reconnect to (the redirect target or a configured one): without one, leaving address
// (leaveShuttingDown, leaveNotPrimary) would only come back to it. Called with mu held.
func (c *Client) otherAddressLocked(address string) bool {
	return c.primary != "" && c.primary != address ||
		slices.ContainsFunc(c.config.Addresses, func(a string) bool { return a != address })
}

// leaveAddressLocked adds address to the nodes the reconnects try last (connectAny)
// until a subscription is accepted again (reports: subscribedLocked; market data:
// marketDataFrame): one that closed the report subscriptions shutting_down
// (leaveShuttingDown) or refused the market-data resumption not_primary naming nobody
// (leaveNotPrimary). Each address once, the latest last; at most one more than the
// configured addresses (the oldest is dropped), a redirect's being the one more.
// Called with mu held.
func (c *Client) leaveAddressLocked(address string) {
	c.leftAddresses = slices.DeleteFunc(c.leftAddresses,
		func(a string) bool { return a == address })
	if len(c.leftAddresses) > len(c.config.Addresses) {
		c.leftAddresses = slices.Delete(c.leftAddresses, 0, 1)
	}
	c.leftAddresses = append(c.leftAddresses, address)
}
