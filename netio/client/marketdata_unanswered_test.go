package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataCallsOfADeadConnectionAreAnswered: SubscribeMarketData calls whose
// md_subscribe frames went out on a connection that dies before answering them. The new
// connection's resumption asks once per instrument still subscribed, with its latest
// channels: instrument 8 once (two callers, book then top), instrument 7 not at all (its
// caller unsubscribed it). Each caller must get the resumption's answer, or an error
// when none will come; none may wait for ever. The callers left over waited for their
// context (the unsubscription's, and the second of instrument 8's, which then took the
// answer of the next call of the instrument); the existing handling of stale answers
// helps only when the old connection's answers are read late, not when they never come.
//
// Method: a scripted server. Connection 0 answers the first subscription (instrument
// 7), receives the three calls' frames, one call at a time, and closes unanswered;
// connection 1 answers each resumption frame, echoing its instrument and channels.
func TestMarketDataCallsOfADeadConnectionAreAnswered(t *testing.T) {
	received := make(chan wire.MarketDataSubscribe, 4) // Connection 0's frames.
	resumed := make(chan wire.MarketDataSubscribe, 4)  // Connection 1's frames.
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		for answered := 0; ; answered++ {
			frame, ok := peer.frameOf(wire.KindMarketDataSubscribe)
			if !ok {
				return
			}
			var subscribe wire.MarketDataSubscribe
			subscribe.Decode(frame.Body)
			subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
			if connection == 0 {
				received <- subscribe
				if answered > 0 {
					if answered == 3 {
						return // The three calls' frames: closed unanswered.
					}
					continue
				}
			} else {
				resumed <- subscribe
			}
			body := make([]byte, wire.MarketDataSubscribedSize)
			(&wire.MarketDataSubscribed{Instrument: subscribe.Instrument,
				Channels: subscribe.Channels, FromOp: subscribe.FromOp}).Encode(body)
			if _, err := peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{
				Kind: wire.KindMarketDataSubscribed}, body)); err != nil {
				return
			}
		}
	})
	c := dialScripted(t, address)
	// A bound on waits of microseconds, not a timing: a caller left over waits for it. As
	// long as the package's other hang guards: a starved machine must not reach it.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := c.SubscribeMarketData(ctx, 7, wire.ChannelBook,
		func(MarketDataEvent) {}); err != nil {
		t.Fatal(err)
	}
	<-received
	type result struct {
		answer MarketDataSubscribed
		err    error
	}
	calls := []struct{ instrument, channels uint32 }{
		{7, 0}, {8, wire.ChannelBook}, {8, wire.ChannelTop}}
	results := make([]chan result, len(calls))
	for i, call := range calls {
		results[i] = make(chan result, 1)
		go func() {
			answer, err := c.SubscribeMarketData(ctx, call.instrument, call.channels, nil)
			results[i] <- result{answer, err}
		}()
		<-received // In this order: the resumption asks for 8 with the latest channels.
	}
	select {
	case subscribe := <-resumed:
		if subscribe.Instrument != 8 || subscribe.Channels != wire.ChannelTop {
			t.Fatalf("the resumption asked for %+v, want instrument 8, channels top", subscribe)
		}
	case <-ctx.Done():
		t.Fatal("no resumption after connection 0 closed")
	}
	for i, call := range calls {
		got := <-results[i]
		switch {
		case call.channels == 0:
			if !errors.Is(got.err, ErrReconnected) {
				t.Errorf("the unsubscription of 7 returned %v, want ErrReconnected", got.err)
			}
		case got.err != nil || got.answer.Status != model.StatusOK ||
			got.answer.Instrument != 8 || got.answer.Channels != wire.ChannelTop:
			t.Errorf("call %d (instrument 8, channels %d) returned %+v, %v; want the "+
				"resumption's answer (ok, channels top)", i, call.channels, got.answer, got.err)
		}
	}
}

// TestMarketDataCallAfterAReconnectGetsItsOwnAnswer: a SubscribeMarketData call of an
// instrument sent on a new connection before the answer to that instrument's resumption
// came. The server answers the resumption first (it went out first, at install); the
// answer was given to the first caller waiting for the instrument, so the call returned
// the resumption's answer (channels book where it asked for top), and its own answer,
// finding no caller, was taken for a resumption's (retried when refused busy).
func TestMarketDataCallAfterAReconnectGetsItsOwnAnswer(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7] = wire.ChannelBook
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming instrument 7 with channels book.
	s.resume(c.session)
	c.mu.Unlock()
	result := make(chan MarketDataSubscribed, 1)
	go func() {
		answer, _ := c.SubscribeMarketData(context.Background(), 7, wire.ChannelTop, nil)
		result <- answer
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	for _, channels := range []uint32{wire.ChannelBook, wire.ChannelTop} { // In order sent.
		body := make([]byte, wire.MarketDataSubscribedSize)
		(&wire.MarketDataSubscribed{Instrument: 7, Channels: channels}).Encode(body)
		if err := c.handle(&wire.Frame{Kind: wire.KindMarketDataSubscribed, Body: body},
			2); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case answer := <-result:
		if answer.Channels != wire.ChannelTop {
			t.Fatalf("the call asking for channels top got the answer for channels %d: "+
				"the resumption's", answer.Channels)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
		t.Fatal("the call was never answered")
	}
}

// TestMarketDataRefusalOvertakingAResumptionAnswersItsCaller: the server answers the
// md_subscribe frames it takes in order, through its publisher, but refuses some at once
// from its event loop (rate_limited, busy, permission_denied), ahead of the answers to
// earlier frames still queued. Right after a reconnect the resumption of instrument 7
// (from op 10) is queued, and a call for 7 sent just after it is refused rate_limited
// (the resumption spent the rate): the refusal comes first. Matched in the order the
// frames were sent, the refusal was taken for the resumption's answer (and the
// resumption retried), and the resumption's ok was returned to the refused call. Each
// answer belongs to the frame whose fields it echoes.
func TestMarketDataRefusalOvertakingAResumptionAnswersItsCaller(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.lastOp = wire.ChannelBook, 10
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming instrument 7 from op 10.
	s.resume(c.session)
	c.mu.Unlock()
	retried := false
	testHookAfterDelay = func(time.Duration, func()) { retried = true }
	t.Cleanup(func() { testHookAfterDelay = nil })
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, wire.ChannelBook, nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	refusal := marketDataSubscribedFrame(7, wire.ChannelBook, 0) // The call's: from op 0.
	refusal.Status = uint32(model.StatusRateLimited)
	for _, frame := range []*wire.Frame{refusal, marketDataSubscribedFrame(7, wire.ChannelBook,
		10)} {
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-result:
		var refused *StatusError
		if !errors.As(err, &refused) || refused.Status != model.StatusRateLimited {
			t.Errorf("the call refused rate_limited returned %v", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
		t.Fatal("the call was never answered")
	}
	if retried {
		t.Error("the resumption, answered ok, was retried: the call's refusal was taken for its")
	}
}
