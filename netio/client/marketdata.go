package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// MarketDataEvent is what a market-data subscription delivers, on the connection's
// reader goroutine, in the order the server sent it. Exactly one field is set.
type MarketDataEvent struct {
	Updates    []model.MarketDataUpdate // Update records (owned by the handler).
	Subscribed *MarketDataSubscribed    // A (re)subscription is in place.
	Stale      *wire.MarketDataStale    // Updates were dropped for this client: resnapshot.
}

// MarketDataSubscribed answers a (re)subscription: Status is ok, or
// market_data_resume_gap when the server could not replay from the op asked, or a
// failover lost updates already handed over (rebuild from a snapshot); the
// subscription is live either way. The handler may be given market_data_resume_gap
// where the server answered ok: a gap answered on a connection replaced before its
// event was handed over is told with the instrument's next answer.
type MarketDataSubscribed struct {
	wire.MarketDataSubscribed
	Status model.Status
	// LiveFromOp is the first op whose updates the connection is sent live (the header's
	// aux, PROTOCOL.md 8a): the subscription's stream is whole from it on. 0 when
	// refused, or from a server that predates it.
	LiveFromOp uint64
	// Shard is the shard whose log the answer's ops are positions in (the header's
	// number, PROTOCOL.md 18): the instrument's shard; 0 on a node of one shard.
	Shard uint16
}

// marketDataSubscription is the client's market-data subscription: its instruments and,
// per instrument, the op its stream is known complete through, resumed after a
// reconnect (publisher replay from that op). Its fields are guarded by the client's
// mutex.
//
// instruments holds what the server accepted (ok or market_data_resume_gap), not what
// was asked: a refused change leaves it as it was, so a reconnect resumes what the
// caller was told it has (TestMarketDataRefusedChangeIsNotResumed). install adopts the
// latest channels asked of an instrument still unanswered on the replaced connection,
// since its callers get the resumption's answer; if that answer refuses it for good
// (not a refusal retried), one new to the subscription is dropped again, and one
// accepted before goes back to the channels accepted. progress has an entry exactly for the
// instruments in instruments (at most the server's per-connection limit,
// MarketDataInstrumentsPerConnectionMax, plus instrument 0).
type marketDataSubscription struct {
	handler     func(MarketDataEvent)
	instruments map[uint32]uint32 // Instrument (0 = all) → channels accepted.
	progress    map[uint32]marketDataProgress
	// lastOp is the op of the last update handed to the handler, on any connection and of
	// any shard (only a start for an instrument not answered yet: resumeOp).
	lastOp uint64
	// connectionOps is, per shard, the op of the last update of that shard read on the
	// current connection (none: not read yet). An instrument answered on that connection
	// is complete through its shard's: the shard's publisher sends a connection's
	// replays, answers and live updates from one queue (netio/marketdata.go; PROTOCOL.md
	// 8a, step 8), so an update of that shard read after the answer, of any instrument,
	// comes after every update of the answered one with a lower op. Another shard's ops
	// are positions in another log, and its feed writes on its own: they say nothing of
	// the instrument (PROTOCOL.md 18). At most shardmap.ShardsMax entries.
	connectionOps map[uint16]uint64
	// asked are the md_subscribe frames sent on the current connection (or queued for
	// it) and not answered yet, per instrument, in the order sent.
	asked      map[uint32][]marketDataAsk
	retryDelay time.Duration // Next wait before resending a refused resumption.
	// shardOpsRefused: the server of the current connection answered invalid_body to an
	// md_subscribe carrying channel bit 3 (wire.ChannelShardOps) and nothing else
	// unknown: it predates the bit, and serves market data of shard 0 only, so frames go
	// without it until the next connection (resume clears it).
	shardOpsRefused bool
	// fromOpReadRefused: the server of the current connection answered invalid_body to
	// an md_subscribe carrying channel bit 4 (wire.ChannelFromOpRead) and nothing else
	// unknown: it predates the bit, so frames go without it until the next connection.
	fromOpReadRefused bool
	// books are the inboxes of the FollowBook calls running on the client: each is given
	// every event, as the handler is (nil until a caller gives one: FollowBook needs
	// none), whatever call set the handler; without them a second FollowBook, or one
	// after a SubscribeMarketData with its own handler, was never given an update
	// (TestReviewTwoFollowedBooksOnOneClient). A slice replaced, never changed in place,
	// so that a reader may range over the one it took under mu.
	books []*bookInbox
}

// marketDataProgress is how far an instrument's stream is known complete. A resumption
// asks from fromOp, or from its shard's entry of connectionOps when the instrument was
// answered on the connection replaced and that is newer. An instrument not answered there (its
// resumption refused, or cut short by the connection's loss) keeps the op it asked
// from: updates of other instruments read there say nothing of it
// (TestMarketDataResumptionCutShortAsksFromEachInstrumentsOp,
// TestMarketDataResumptionAfterARefusedOneAsksFromItsOp).
type marketDataProgress struct {
	fromOp uint64 // Every update of the instrument with a lower op reached the handler.
	// fromOpRead: fromOp is the op of an update read (from this server or an earlier
	// one), not a live_from_op with nothing read after it; a resumption from it carries
	// channel bit 4 (PROTOCOL.md 8a, step 8), so that a new primary whose log ends just
	// before it, having lost it, answers market_data_resume_gap rather than ok.
	fromOpRead bool
	answered   bool   // Its subscription was answered ok (or resume gap) on this connection.
	shard      uint16 // The instrument's shard, as its answers name it (0 until answered).
	// acceptedChannels are the channels a server last accepted for the instrument (ok or
	// resume gap), on any connection; 0: none yet. Not those yet when resume adopted a
	// caller's change unanswered on the replaced connection: a refusal for good then
	// goes back to them, or drops an instrument no server accepted, as its callers are
	// told (TestMarketDataRefusedAdoptedInstrumentIsNotResumedAgain,
	// TestMarketDataAdoptedChannelChangeRefusedForGoodKeepsTheAcceptedChannels).
	acceptedChannels uint32
	// untoldGapFromOp is the op a resumption answered market_data_resume_gap asked
	// from, while that answer's event has not reached the handler (0: none pending).
	// fromOp has moved to the answer's live_from_op already, but if the connection is
	// replaced before the event's turn comes the event is dropped, and a resumption from
	// live_from_op would be answered ok: the handler would never learn of the loss
	// (TestResumeGapAnswerOfAConnectionReplacedWhileItWaitsIsStillTold). The next answer
	// for the instrument handed over while it is set is handed over as the gap, even ok:
	// a new primary whose log was behind this op answers ok once its log has passed it
	// (TestResumeGapPastTheLogDroppedWithItsConnectionIsToldOnTheNextAnswer). Meanwhile
	// resumptions ask live only (resumeOp), so that no replay reaches the handler before
	// it is told.
	untoldGapFromOp uint64
}

// resumeOp is the op the instrument's next resumption asks from; an instrument without
// progress asks from lastOp: one recorded before any answer, or new, asked live (from op
// 0) and not answered, of which no update was read, so that any op read before is a
// start (its live updates come after). read says that an update at that op was read
// (marketDataProgress.fromOpRead); it is false for lastOp, which may be a position in
// another shard's log.
func (s *marketDataSubscription) resumeOp(instrument uint32) (fromOp uint64, read bool) {
	progress, known := s.progress[instrument]
	if !known {
		return s.lastOp, false
	}
	if progress.untoldGapFromOp != 0 {
		// Live only: the next answer tells the gap whatever its status
		// (marketDataFrame), and must come before any update of the instrument. Asked
		// from an op its log holds, a server replays first, and the handler would take
		// that replay as exact on top of what was lost
		// (TestUntoldResumeGapIsToldBeforeAnyUpdateOfTheInstrument).
		return 0, false
	}
	if read := s.connectionOps[progress.shard]; progress.answered && read != 0 &&
		read >= progress.fromOp {
		return read, true // An update of its shard read at that op, on this connection.
	}
	return progress.fromOp, progress.fromOpRead
}

// wantedChannels are the channels the instrument is to have on the current connection:
// those of the latest md_subscribe still unanswered (frames are applied in the order
// sent), else those accepted; subscribed is false for none (0).
func (s *marketDataSubscription) wantedChannels(instrument uint32) (channels uint32,
	subscribed bool) {
	if asks := s.asked[instrument]; len(asks) > 0 {
		channels = asks[len(asks)-1].channels
	} else {
		channels = s.instruments[instrument]
	}
	return channels, channels != 0
}

// marketDataAsk is one md_subscribe frame waiting for its answer. The answer is matched
// to it by what it echoes (instrument, channels, from_op), the first such frame in the
// order sent: the server answers the frames it takes in order, but refuses some at once
// (busy, rate_limited, permission_denied), ahead of the answers to earlier frames still
// with its publisher. Frames asking the same thing may swap answers (each caller gets
// an answer to what it asked).
type marketDataAsk struct {
	channels uint32
	fromOp   uint64
	// callers receive the answer: the SubscribeMarketData call that sent the frame, or,
	// for a resumption, the calls of a replaced connection it settles (resume; none for
	// a retried one).
	callers    []chan MarketDataSubscribed
	resumption bool
}

// newMarketDataSubscription is the subscription of a client's first SubscribeMarketData.
func newMarketDataSubscription(handler func(MarketDataEvent)) *marketDataSubscription {
	return &marketDataSubscription{handler: handler, instruments: map[uint32]uint32{},
		progress: map[uint32]marketDataProgress{}, asked: map[uint32][]marketDataAsk{},
		connectionOps: map[uint16]uint64{}}
}

// ErrReconnected is returned by SubscribeMarketData when the connection its md_subscribe
// went out on was replaced before the answer came and the new connection's resumption
// does not cover the instrument: the latest call for it unsubscribed it (channels 0), so
// the new connection has no subscription of it, as that call asked, but no server
// answered.
var ErrReconnected = errors.New("client: connection replaced before the answer")

// resume returns the md_subscribe frames that resume every subscribed instrument on a
// new connection, each from the op its stream is known complete through (resumeOp; the
// server replays updates with op >= it; the handler drops the ones whose sequence it
// has), and settles the calls still waiting for an answer of the replaced one (install,
// with mu held): a caller of an instrument resumed gets the resumption's answer (one for
// all of them: it asks once per instrument, with the latest channels asked, which
// become the instrument's), any other is answered ErrReconnected (closed channel): the
// latest call unsubscribed it. None is left for an answer of the replaced connection,
// whose md_subscribed frames are then ignored (marketDataFrame): whether they will still
// be read is not known here (its reader may be in a handler with them buffered, or the
// connection may have died before they were sent).
func (s *marketDataSubscription) resume(session uint64) [][]byte {
	for instrument := range s.asked {
		if channels, subscribed := s.wantedChannels(instrument); subscribed {
			s.instruments[instrument] = channels
		} else {
			delete(s.instruments, instrument)
			delete(s.progress, instrument)
		}
	}
	replaced := s.asked
	s.asked = make(map[uint32][]marketDataAsk, len(s.instruments))
	s.shardOpsRefused = false // A new connection, perhaps to a newer server.
	s.fromOpReadRefused = false
	frames := make([][]byte, 0, len(s.instruments))
	for instrument, channels := range s.instruments {
		fromOp, read := s.resumeOp(instrument)
		// An untold gap stays untold until an answer for the instrument is handed over
		// (marketDataFrame): asked again from the same op, the server may answer ok.
		s.progress[instrument] = marketDataProgress{fromOp: fromOp, fromOpRead: read,
			acceptedChannels: s.progress[instrument].acceptedChannels,
			untoldGapFromOp:  s.progress[instrument].untoldGapFromOp,
			shard:            s.progress[instrument].shard}
		ask := marketDataAsk{channels: channels, fromOp: fromOp, resumption: true}
		for _, replacedAsk := range replaced[instrument] {
			ask.callers = append(ask.callers, replacedAsk.callers...)
		}
		s.asked[instrument] = []marketDataAsk{ask}
		frames = append(frames, s.subscribeFrame(session, instrument, channels, fromOp, read))
	}
	clear(s.connectionOps)
	for instrument, asks := range replaced {
		if _, resumed := s.instruments[instrument]; resumed {
			continue
		}
		for _, ask := range asks {
			for _, answers := range ask.callers {
				close(answers)
			}
		}
	}
	return frames
}

// subscribeFrame is an md_subscribe frame; it carries channel bit 3 (the client keeps a
// resume op per shard: connectionOps, PROTOCOL.md 18) unless the current connection's
// server refused it, and channel bit 4 when read says an update at fromOp was read
// (resumeOp) unless that server refused bit 4. The answer echoes the bits, which
// marketDataFrame takes off before matching it to its ask: asks hold the caller's
// channels only.
func (s *marketDataSubscription) subscribeFrame(session uint64, instrument, channels uint32,
	fromOp uint64, read bool) []byte {
	if !s.shardOpsRefused {
		channels |= wire.ChannelShardOps
	}
	if read && fromOp != 0 && !s.fromOpReadRefused {
		channels |= wire.ChannelFromOpRead
	}
	body := make([]byte, wire.MarketDataSubscribeSize)
	(&wire.MarketDataSubscribe{Instrument: instrument, Channels: channels,
		FromOp: fromOp}).Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindMarketDataSubscribe,
		Session: session}, body)
}

// SubscribeMarketData subscribes to an instrument's market data (0: every instrument)
// on the channels given (wire.Channel*; wire.ChannelBook to build a book), and returns
// the server's answer. All subscriptions of a client share one handler: the first call
// that gives one sets it (later calls may pass nil; FollowBook has its own way in, and
// gives none). After a reconnect the client resubscribes by
// itself to what the server accepted (a refused call changes nothing), each instrument
// from the op its updates were handed over through, so a book built from the updates
// stays exact across a failover (sequences carry on: PROTOCOL.md 8a) unless the answer
// is market_data_resume_gap. The handler runs on the reader goroutine, in the order
// the report handler's calls are (Subscribe: a newer connection's calls start once the
// replaced one's have returned): keep it short and never wait in it for a call's reply
// (the readers read replies). A SubscribeMarketData it calls waits for an answer its
// own reader would read, and a newer connection's reader waits for this handler before
// it reads past a report or an update (a resumption's replay comes before its answer):
// such a call returns when its context ends or the client closes, or, if the new
// reader reads the answer before anything it must hand to a handler, when the
// connection is replaced. Give it a context that ends, or call it from another
// goroutine. It may call Close, which does not wait for a reader running a handler. The handler is not
// entered once Close has begun; a call entered just before may start, or still run,
// after Close returns. A call still waiting when its connection is replaced returns the
// answer to the new connection's resumption of the instrument (one for every call of
// it, asked with the latest channels), or ErrReconnected when the resumption does not
// cover it; one waiting when the client is closed returns ErrClosed. Called with a ctx
// that has ended, it returns ctx's error and changes nothing (no frame is sent, no
// handler set); one whose ctx ends after its frame was sent returns ctx's error, and
// what the server makes of the frame stands (resumed after a reconnect if accepted).
func (c *Client) SubscribeMarketData(ctx context.Context, instrument uint32, channels uint32,
	handler func(MarketDataEvent)) (MarketDataSubscribed, error) {
	return c.subscribeMarketData(ctx, instrument, channels, handler, nil)
}

// subscribeMarketData is SubscribeMarketData; book, if not nil, is a FollowBook's inbox,
// given every event from now on (until forgetBook).
func (c *Client) subscribeMarketData(ctx context.Context, instrument uint32, channels uint32,
	handler func(MarketDataEvent), book *bookInbox) (MarketDataSubscribed, error) {
	channels &^= wire.ChannelShardOps | wire.ChannelFromOpRead // The client's to set (subscribeFrame).
	c.mu.Lock()
	if c.closed {
		err := c.closedError()
		c.mu.Unlock()
		return MarketDataSubscribed{}, err
	}
	if err := ctx.Err(); err != nil { // Ended already: nothing is subscribed or sent.
		c.mu.Unlock()
		return MarketDataSubscribed{}, err
	}
	s := c.marketData
	if s == nil {
		if handler == nil && book == nil {
			c.mu.Unlock()
			return MarketDataSubscribed{}, fmt.Errorf("client: the first market-data subscription needs a handler")
		}
		s = newMarketDataSubscription(handler)
		c.marketData = s
	} else if s.handler == nil {
		s.handler = handler // Only FollowBook calls came before: this is the first handler.
	}
	if book != nil { // Before the frame is sent: its every update reaches the book.
		s.books = append(slices.Clone(s.books), book)
	}
	answers := make(chan MarketDataSubscribed, 1)
	s.asked[instrument] = append(s.asked[instrument], marketDataAsk{channels: channels,
		callers: []chan MarketDataSubscribed{answers}})
	c.outbox = append(c.outbox, s.subscribeFrame(c.session, instrument, channels, 0, false))
	c.writeLocked()
	c.mu.Unlock()
	select {
	case answer, answered := <-answers:
		if !answered {
			return MarketDataSubscribed{}, ErrReconnected
		}
		if !marketDataAccepted(answer.Status) {
			return answer, &StatusError{Status: answer.Status}
		}
		return answer, nil
	case <-c.stop: // Closed (or stopped by a fatal error): no answer will be read.
		return MarketDataSubscribed{}, c.stoppedError()
	case <-ctx.Done():
		return MarketDataSubscribed{}, ctx.Err()
	}
}

// marketDataFrame hands an md_* frame, read on connection generation, to the
// subscription's handler (reader goroutine), unless that connection has been replaced:
// its reader may still hand over what it had buffered, but the resumption on the new
// connection asked for every update after the last op handed over by then, so a later
// one here would reach the handler out of turn (and be replayed again; after a failover
// that lost it, the new primary's update with its sequence would look already had). A
// stale md_subscribed answers nobody: resume settled every caller of the replaced
// connection. The check and what it guards (the last op, the callers' answers) are in
// one locked block, as install's building of the resumption is: a reconnect between
// them would let a replaced connection's frame move the op the resumption was built
// from, or take an answer meant for the new connection's callers.
//
// An update or md_stale waits for its turn (handlerTurnLocked: the handlers of older
// connections return first) before that block, and is counted as a handler in it, so
// the op it moves is always that of an update the handler is given (unless the client
// is closed). An md_subscribed is applied at once, without waiting, so that a caller
// waiting for it (perhaps inside a handler of the connection replaced) is answered; its
// event then waits for its turn and is not handed over if its connection was replaced
// meanwhile (the new connection's answers follow; a market_data_resume_gap dropped so
// is told with the next answer for the instrument, even ok: untoldGapFromOp).
func (c *Client) marketDataFrame(frame *wire.Frame, generation uint64) {
	var event MarketDataEvent
	var answer MarketDataSubscribed
	switch frame.Kind {
	case wire.KindMarketData:
		event.Updates = make([]model.MarketDataUpdate, len(frame.Body)/model.MarketDataUpdateSize)
		for i := range event.Updates {
			event.Updates[i].Decode(frame.Body[i*model.MarketDataUpdateSize:])
		}
	case wire.KindMarketDataStale:
		event.Stale = &wire.MarketDataStale{}
		event.Stale.Decode(frame.Body)
	case wire.KindMarketDataSubscribed:
		answer.Status = model.Status(frame.Status)
		answer.LiveFromOp = frame.Aux
		answer.Shard = uint16(frame.Number)
		answer.MarketDataSubscribed.Decode(frame.Body)
		event.Subscribed = &answer
	}
	// The echo of a frame that carried channel bit 4 or 3; refused by a server that
	// predates it (invalid_body) when it carried no other unknown bit. Bit 4 is newer:
	// a frame carrying both, refused, goes again without bit 4 first (a server that
	// knows bit 3 but not 4 refuses it too), and only a frame without bit 4 refused
	// tells that the server predates bit 3.
	fromOpRead := answer.Channels&wire.ChannelFromOpRead != 0
	refusedUnknown := answer.Status == model.StatusInvalidBody &&
		answer.Channels&^wire.SubscribeBitsKnown == 0
	readRefused := refusedUnknown && fromOpRead
	bitRefused := refusedUnknown && !fromOpRead && answer.Channels&wire.ChannelShardOps != 0
	answer.Channels &^= wire.ChannelShardOps | wire.ChannelFromOpRead
	c.mu.Lock()
	if event.Subscribed == nil && !c.handlerTurnLocked(generation) {
		c.mu.Unlock()
		return
	}
	s := c.marketData
	if s == nil || c.generation != generation {
		c.mu.Unlock()
		return
	}
	books, handler := s.books, s.handler // A first handler may be given later (under mu).
	var retryDelay time.Duration
	for i := range event.Updates { // One shard's, from one feed's write; checked anyway.
		u := &event.Updates[i]
		s.lastOp = max(s.lastOp, u.Op)
		s.connectionOps[u.Shard] = max(s.connectionOps[u.Shard], u.Op)
	}
	if readRefused && s.resendWithoutFromOpReadLocked(answer) ||
		bitRefused && s.resendWithoutShardOpsLocked(answer) {
		c.outbox = append(c.outbox, s.subscribeFrame(c.session, answer.Instrument,
			answer.Channels, answer.FromOp, fromOpRead))
		c.writeLocked()
		c.mu.Unlock()
		return // The frame's ask waits for the answer to the one sent again.
	}
	entered := false
	if event.Subscribed != nil {
		retryDelay = s.answerLocked(answer)
		if marketDataAccepted(answer.Status) {
			c.leftAddresses = c.leftAddresses[:0] // A node that serves (leaveAddressLocked).
		}
	} else {
		entered = c.enterHandlerLocked(generation) // Its turn, taken above: no wait.
	}
	c.mu.Unlock()
	if event.Subscribed != nil {
		if testHookAnswerApplied != nil {
			testHookAnswerApplied(frame.Kind)
		}
		if retryDelay != 0 && answer.Status == model.StatusNotPrimary &&
			c.leaveNotPrimary(generation) {
			return // Resumed on the next connection, at another node first.
		}
		if retryDelay != 0 {
			c.resumeMarketDataLater(s, answer.Instrument, answer.FromOp, retryDelay, generation)
			return
		}
		c.mu.Lock()
		entered = c.enterHandlerLocked(generation)
		// Only an answer that took the subscription tells the gap: a refusal (the
		// instrument stays and is resumed on the next connection) says nothing of it
		// (TestUntoldResumeGapOutlivesARefusedResumption).
		if progress, known := s.progress[answer.Instrument]; entered && known &&
			marketDataAccepted(answer.Status) {
			if progress.untoldGapFromOp != 0 && answer.Status == model.StatusOK {
				// A gap answered on a replaced connection was never told, and asking
				// again did not bring it back: a new primary behind the op asked
				// (PROTOCOL.md 8a, "Resuming past the server's log") answers ok once
				// its own log has passed that op, though the updates read were lost.
				// The handler is told the gap now, with the answer that ends it.
				answer.Status = model.StatusMarketDataResumeGap
			}
			progress.untoldGapFromOp = 0 // Told now (the handler is given the event).
			s.progress[answer.Instrument] = progress
		}
		c.mu.Unlock()
	}
	if !entered {
		return
	}
	// Deferred as in report: a handler may leave by runtime.Goexit.
	defer c.leaveHandler()
	for _, book := range books { // Copies first: the handler owns the event's records.
		book.put(event.clone())
	}
	if handler != nil {
		handler(event)
	}
}

// clone returns a copy of the event that shares nothing with it.
func (e MarketDataEvent) clone() MarketDataEvent {
	copied := MarketDataEvent{Updates: slices.Clone(e.Updates)}
	if e.Subscribed != nil {
		subscribed := *e.Subscribed
		copied.Subscribed = &subscribed
	}
	if e.Stale != nil {
		stale := *e.Stale
		copied.Stale = &stale
	}
	return copied
}

// forgetBook stops giving events to a FollowBook's inbox (it has returned).
func (c *Client) forgetBook(book *bookInbox) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.marketData; s != nil {
		s.books = slices.DeleteFunc(slices.Clone(s.books),
			func(b *bookInbox) bool { return b == book })
	}
}

// resendWithoutShardOpsLocked records that the current connection's server refused
// channel bit 3 (answer: its invalid_body to a frame carrying it) and reports whether
// that frame still waits for an answer, to be sent again without the bit (its ask stays
// where it is: the answer to the new frame echoes the same channels and from_op). Called
// with mu held.
func (s *marketDataSubscription) resendWithoutShardOpsLocked(answer MarketDataSubscribed) bool {
	s.shardOpsRefused = true
	return slices.ContainsFunc(s.asked[answer.Instrument], func(ask marketDataAsk) bool {
		return ask.channels == answer.Channels && ask.fromOp == answer.FromOp
	})
}

// resendWithoutFromOpReadLocked records that the current connection's server refused
// channel bit 4 (answer: its invalid_body to a frame carrying it) and reports whether
// that frame still waits for an answer, to be sent again without the bit. Called with
// mu held.
func (s *marketDataSubscription) resendWithoutFromOpReadLocked(answer MarketDataSubscribed) bool {
	s.fromOpReadRefused = true
	return slices.ContainsFunc(s.asked[answer.Instrument], func(ask marketDataAsk) bool {
		return ask.channels == answer.Channels && ask.fromOp == answer.FromOp
	})
}

// answerLocked gives an md_subscribed of the current connection to the callers of the
// frame it answers (marketDataAsk). A resumption refused for now (typically: reconnected
// to the standby before its promotion completed, or resuming many instruments at once
// past the client's request rate) is retried on this connection after the delay
// returned (0: none); the calls it settles return the refusal all the same (an answer
// to their instrument, which they may send again), rather than wait for a retry that an
// unsubscription meanwhile would cancel. Called with mu held.
func (s *marketDataSubscription) answerLocked(answer MarketDataSubscribed) (
	retryDelay time.Duration) {
	if answer.Status == model.StatusOK {
		s.retryDelay = 0
	}
	asks := s.asked[answer.Instrument]
	index := slices.IndexFunc(asks, func(ask marketDataAsk) bool {
		return ask.channels == answer.Channels && ask.fromOp == answer.FromOp
	})
	if index < 0 {
		return 0 // Answers no frame of this connection's: handed over, nobody waits.
	}
	ask := asks[index]
	if asks = slices.Delete(asks, index, index+1); len(asks) > 0 {
		s.asked[answer.Instrument] = asks
	} else {
		delete(s.asked, answer.Instrument)
	}
	for _, answers := range ask.callers {
		answers <- answer // Capacity 1, used once.
	}
	accepted := marketDataAccepted(answer.Status)
	if accepted {
		s.acceptLocked(answer, ask.resumption)
	}
	if ask.resumption && (answer.Status == model.StatusBusy ||
		answer.Status == model.StatusNotPrimary || answer.Status == model.StatusRateLimited) {
		s.retryDelay = nextResubscribeDelay(s.retryDelay)
		return s.retryDelay
	}
	// Refused for good, as its callers are told: a change resume adopted is undone.
	if progress, known := s.progress[answer.Instrument]; ask.resumption && known &&
		!accepted {
		if progress.acceptedChannels == 0 {
			delete(s.instruments, answer.Instrument)
			delete(s.progress, answer.Instrument)
		} else {
			s.instruments[answer.Instrument] = progress.acceptedChannels
		}
	}
	return 0
}

// acceptLocked records a subscription change the server accepted (answer: ok or resume
// gap, to a frame of the current connection). A resumption's channels are recorded
// already (resume); a caller's become the instrument's, or unsubscribe it.
//
// Where the stream is whole from: a resumption's replay, read before its answer, was
// handed over, and the updates from the answer's LiveFromOp on come live; so the
// instrument's fromOp becomes LiveFromOp, and a connection lost before anything else is
// read there resumes from it, not from the op asked before (which a busy feed may have
// pushed out of the server's history since, or a restart: a spurious resume gap at
// every reconnect). Also when LiveFromOp is the lower: with status ok the server's
// log holds the op asked and its feed, lagging it, sends the updates from LiveFromOp
// live (the ones already read are skipped by sequence); with market_data_resume_gap
// its log ends before it (a failover lost the entries of updates read: PROTOCOL.md 8a,
// "Resuming past the server's log") and its updates from LiveFromOp on are other ones,
// which the handler takes after a snapshot; either way they are asked for again, not
// skipped, if the connection is lost. An instrument new to the subscription went live
// at the answer: its stream is whole from LiveFromOp, or, from a server that does not send it,
// from the op of the last update of its shard read on this connection (connectionOps:
// every update of the instrument with a lower op was published before the subscription). Not from
// lastOp, which counts what older connections read: after a failover the new primary
// may not have reached it (an asynchronous standby), and its updates between its
// answer and that op would never be asked for. With neither, fromOp is 0: the next
// resumption asks for live updates only (the updates published while disconnected are
// not asked for; nothing tells the client where they begin). A caller's change of an
// instrument whose resumption is still unanswered or refused does not mark it
// answered: it replays nothing, and the updates from the op the resumption asked are
// still due. Called with mu held.
func (s *marketDataSubscription) acceptLocked(answer MarketDataSubscribed, resumption bool) {
	instrument := answer.Instrument
	if resumption {
		if _, recorded := s.instruments[instrument]; !recorded {
			return // Unsubscribed since (a caller's change, accepted): nothing to track.
		}
		progress := s.progress[instrument]
		progress.answered, progress.acceptedChannels = true, answer.Channels
		progress.shard = answer.Shard
		if answer.LiveFromOp != 0 {
			if answer.Status == model.StatusMarketDataResumeGap {
				progress.untoldGapFromOp = progress.fromOp // Until its event is handed over.
			}
			progress.fromOp, progress.fromOpRead = answer.LiveFromOp, false
		}
		s.progress[instrument] = progress
		return
	}
	if answer.Channels == 0 {
		delete(s.instruments, instrument)
		delete(s.progress, instrument)
		return
	}
	s.instruments[instrument] = answer.Channels
	progress, known := s.progress[instrument]
	if !known {
		fromOp := answer.LiveFromOp
		if fromOp == 0 {
			fromOp = s.connectionOps[answer.Shard]
		}
		progress = marketDataProgress{fromOp: fromOp, answered: true,
			fromOpRead: answer.LiveFromOp == 0 && fromOp != 0}
	}
	progress.acceptedChannels, progress.shard = answer.Channels, answer.Shard
	s.progress[instrument] = progress
}

// GetBook returns the market-data snapshot of an instrument: the header (its sequence
// and the op the book reflects) and up to levels price levels per side, bids first then
// asks, best first.
func (c *Client) GetBook(ctx context.Context, instrument uint32, levels uint32) (
	model.BookHeader, []model.DepthLevel, error) {
	body := make([]byte, model.DepthFilterSize)
	(&model.DepthFilter{Instrument: instrument, Levels: levels}).Encode(body)
	reply, err := c.Do(ctx, model.OperationGetBook, 0, body)
	if err != nil {
		return model.BookHeader{}, nil, err
	}
	if len(reply.Body) < model.DepthLevelSize || len(reply.Body)%model.DepthLevelSize != 0 {
		return model.BookHeader{}, nil, fmt.Errorf("client: get_book answered %d bytes",
			len(reply.Body))
	}
	var header model.BookHeader
	header.Decode(reply.Body)
	depth := make([]model.DepthLevel, len(reply.Body)/model.DepthLevelSize-1)
	for i := range depth {
		depth[i].Decode(reply.Body[(i+1)*model.DepthLevelSize:])
	}
	return header, depth, nil
}

// resumeMarketDataLater resends the resumption of one instrument's subscription on the
// connection that refused it (generation) after delay, unless the client, that
// connection or the subscription changed meanwhile. The generation is the refusal's: a
// reconnect in between has sent its own resumption, which a second would duplicate
// (a second replay, a request of the client's rate, and an answer taken for a caller's).
// It asks from fromOp, the op the refused resumption asked from, not from lastOp: other
// instruments' updates move lastOp meanwhile, past this instrument's updates, which no
// connection sent since (TestMarketDataRetriedResumptionAsksFromTheRefusedOp).
func (c *Client) resumeMarketDataLater(s *marketDataSubscription, instrument uint32,
	fromOp uint64, delay time.Duration, generation uint64) {
	afterDelay(delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		channels, subscribed := s.wantedChannels(instrument)
		if c.marketData != s || c.closed || c.generation != generation || !subscribed {
			return
		}
		s.asked[instrument] = append(s.asked[instrument], marketDataAsk{channels: channels,
			fromOp: fromOp, resumption: true})
		progress := s.progress[instrument] // The refused resumption's, unanswered.
		read := progress.fromOpRead && progress.fromOp == fromOp
		c.outbox = append(c.outbox, s.subscribeFrame(c.session, instrument, channels, fromOp,
			read))
		c.writeLocked()
	})
}

// leaveNotPrimary ends connection generation after its node refused a market-data
// resumption not_primary, when the client knows another address, and reports whether
// it did. Only the primary serves market data (PROTOCOL.md 8a), and a node that stopped
// being primary closes its subscribers with shutting_down: the reconnect that follows
// tries the addresses in order, so it may reach that very node again, whose refusal
// carries no address to follow. Retried on that connection, the resumption would be
// refused for as long as the node stays deposed, the book stale all the while. So the
// connection ends as after a redirect (the same back-off from the second in a row:
// waitBeforeFollowing), and the next connectAny tries the refusing address last, after
// the others left so since a subscription was accepted (leaveAddressLocked). With
// no other address (one name, perhaps a proxy in front of the current primary) the
// resumption is retried on the connection as before.
func (c *Client) leaveNotPrimary(generation uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation != generation || c.conn == nil || c.closed {
		return false
	}
	refusing := c.dialed
	if !c.otherAddressLocked(refusing) {
		return false
	}
	c.triedLast = refusing
	c.leaveAddressLocked(refusing)
	c.redirects++
	c.redirectedLoss = true
	c.lostLocked(generation, fmt.Errorf(
		"client: market data refused not_primary at %s, trying another address", refusing))
	return true
}

// marketDataAccepted reports whether an md_subscribed status means the server took the
// subscription: ok, or a resume gap (live from now on, nothing replayed).
func marketDataAccepted(status model.Status) bool {
	return status == model.StatusOK || status == model.StatusMarketDataResumeGap
}
