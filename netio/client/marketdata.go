package client

import (
	"context"
	"fmt"
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
// market_data_resume_gap when the server could not replay from the op asked (rebuild
// from a snapshot); the subscription is live either way.
type MarketDataSubscribed struct {
	wire.MarketDataSubscribed
	Status model.Status
}

// marketDataSubscription is the client's market-data subscription: its instruments and
// the last op seen, resumed after a reconnect (publisher replay from that op).
type marketDataSubscription struct {
	handler     func(MarketDataEvent)
	instruments map[uint32]uint32 // Instrument (0 = all) → channels.
	lastOp      uint64            // Op of the last update handed to the handler.
	// waiters are the SubscribeMarketData calls waiting for their answer, per instrument
	// (answers to resumptions after a reconnect, which nobody waits for, find none).
	waiters    map[uint32][]chan MarketDataSubscribed
	retryDelay time.Duration // Next wait before resending a refused resumption.
}

// frames are the md_subscribe frames that resume every subscribed instrument from the
// last op seen (the server replays updates with op >= it; the handler drops the ones
// whose sequence it has).
func (s *marketDataSubscription) frames(session uint64) [][]byte {
	frames := make([][]byte, 0, len(s.instruments))
	for instrument, channels := range s.instruments {
		frames = append(frames, marketDataSubscribeFrame(session, instrument, channels, s.lastOp))
	}
	return frames
}

func marketDataSubscribeFrame(session uint64, instrument, channels uint32, fromOp uint64) []byte {
	body := make([]byte, wire.MarketDataSubscribeSize)
	(&wire.MarketDataSubscribe{Instrument: instrument, Channels: channels,
		FromOp: fromOp}).Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindMarketDataSubscribe,
		Session: session}, body)
}

// SubscribeMarketData subscribes to an instrument's market data (0: every instrument)
// on the channels given (wire.Channel*; wire.ChannelBook to build a book), and returns
// the server's answer. All subscriptions of a client share one handler: the first call
// sets it (later calls may pass nil). After a reconnect the client resubscribes by
// itself from the op of the last update it handed over, so a book built from the
// updates stays exact across a failover (sequences carry on: PROTOCOL.md 8a) unless the
// answer is market_data_resume_gap. The handler runs on the reader goroutine: keep it
// short and never wait in it for a call's reply (this goroutine reads replies). It may
// call Close, which does not wait for a reader running a handler. The handler is not
// entered once Close has begun; a call entered just before may start, or still run,
// after Close returns.
func (c *Client) SubscribeMarketData(ctx context.Context, instrument uint32, channels uint32,
	handler func(MarketDataEvent)) (MarketDataSubscribed, error) {
	c.mu.Lock()
	if c.closed {
		err := c.closedError()
		c.mu.Unlock()
		return MarketDataSubscribed{}, err
	}
	s := c.marketData
	if s == nil {
		if handler == nil {
			c.mu.Unlock()
			return MarketDataSubscribed{}, fmt.Errorf("client: the first market-data subscription needs a handler")
		}
		s = &marketDataSubscription{handler: handler, instruments: map[uint32]uint32{},
			waiters: map[uint32][]chan MarketDataSubscribed{}}
		c.marketData = s
	}
	s.instruments[instrument] = channels
	if channels == 0 {
		delete(s.instruments, instrument)
	}
	answers := make(chan MarketDataSubscribed, 1)
	s.waiters[instrument] = append(s.waiters[instrument], answers)
	c.outbox = append(c.outbox, marketDataSubscribeFrame(c.session, instrument, channels, 0))
	c.writeLocked()
	c.mu.Unlock()
	select {
	case answer := <-answers:
		if answer.Status != model.StatusOK && answer.Status != model.StatusMarketDataResumeGap {
			return answer, &StatusError{Status: answer.Status}
		}
		return answer, nil
	case <-ctx.Done():
		return MarketDataSubscribed{}, ctx.Err()
	}
}

// handMarketData runs the subscription's handler on event, noted as running code
// outside the client for Close (enterHandlerLocked); not once the client is closed.
func (c *Client) handMarketData(s *marketDataSubscription, event MarketDataEvent) {
	c.mu.Lock()
	entered := c.enterHandlerLocked()
	c.mu.Unlock()
	if !entered {
		return
	}
	defer c.leaveHandler() // Deferred as in report: a handler may leave by runtime.Goexit.
	s.handler(event)
}

// marketDataFrame hands an md_* frame, read on connection generation, to the
// subscription's handler (reader goroutine), unless that connection has been replaced:
// its reader may still hand over what it had buffered, but the resumption on the new
// connection asked for every update after the last op handed over by then, so a later
// one here would reach the handler out of turn (and be replayed again; after a failover
// that lost it, the new primary's update with its sequence would look already had). A
// stale md_subscribed answers a frame the resumption superseded: the waiting caller gets
// the resumption's answer (its instrument is resumed with the others).
func (c *Client) marketDataFrame(frame *wire.Frame, generation uint64) {
	c.mu.Lock()
	s := c.marketData
	stale := c.generation != generation
	if s != nil && stale && frame.Kind == wire.KindMarketDataSubscribed {
		// Still handed to a caller when more wait for the instrument than the new
		// connection will answer: its resumption asks once per instrument still
		// subscribed and never for one unsubscribed, so a caller left over (an
		// unsubscription's, or the second of two calls) would wait for ever, first in
		// line for the instrument, taking the next call's answer in its place.
		var answer wire.MarketDataSubscribed
		answer.Decode(frame.Body)
		waiting := s.waiters[answer.Instrument]
		answersComing := 0
		if _, resumed := s.instruments[answer.Instrument]; resumed {
			answersComing = 1
		}
		if len(waiting) > answersComing {
			waiting[0] <- MarketDataSubscribed{MarketDataSubscribed: answer,
				Status: model.Status(frame.Status)} // Capacity 1, used once.
			s.waiters[answer.Instrument] = waiting[1:]
		}
	}
	c.mu.Unlock()
	if s == nil || stale {
		return
	}
	switch frame.Kind {
	case wire.KindMarketData:
		updates := make([]model.MarketDataUpdate, len(frame.Body)/model.MarketDataUpdateSize)
		for i := range updates {
			updates[i].Decode(frame.Body[i*model.MarketDataUpdateSize:])
		}
		if len(updates) > 0 {
			c.mu.Lock()
			s.lastOp = max(s.lastOp, updates[len(updates)-1].Op)
			c.mu.Unlock()
		}
		c.handMarketData(s, MarketDataEvent{Updates: updates})
	case wire.KindMarketDataStale:
		var stale wire.MarketDataStale
		stale.Decode(frame.Body)
		c.handMarketData(s, MarketDataEvent{Stale: &stale})
	case wire.KindMarketDataSubscribed:
		answer := MarketDataSubscribed{Status: model.Status(frame.Status)}
		answer.MarketDataSubscribed.Decode(frame.Body)
		c.mu.Lock()
		if answer.Status == model.StatusOK {
			s.retryDelay = 0
		}
		waiting := s.waiters[answer.Instrument]
		if len(waiting) > 0 {
			waiting[0] <- answer // Capacity 1, used once.
			s.waiters[answer.Instrument] = waiting[1:]
		}
		c.mu.Unlock()
		if len(waiting) == 0 && (answer.Status == model.StatusBusy ||
			answer.Status == model.StatusNotPrimary || answer.Status == model.StatusRateLimited) {
			// A resumption after a reconnect, refused for now (typically: reconnected to
			// the standby before its promotion completed, or resuming many instruments at
			// once past the client's request rate). Retry on this connection.
			c.resumeMarketDataLater(s, answer.Instrument)
			return
		}
		c.handMarketData(s, MarketDataEvent{Subscribed: &answer})
	}
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

// resumeMarketDataLater resends the resumption of one instrument's subscription after a
// growing delay, unless the client, the connection or the subscription changed.
func (c *Client) resumeMarketDataLater(s *marketDataSubscription, instrument uint32) {
	c.mu.Lock()
	s.retryDelay = min(max(2*s.retryDelay, resubscribeDelayFirst), resubscribeDelayMax)
	delay, generation := s.retryDelay, c.generation
	c.mu.Unlock()
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		channels, subscribed := s.instruments[instrument]
		if c.marketData != s || c.closed || c.generation != generation || !subscribed {
			return
		}
		c.outbox = append(c.outbox, marketDataSubscribeFrame(c.session, instrument, channels,
			s.lastOp))
		c.writeLocked()
	})
}
