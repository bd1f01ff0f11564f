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

// refuseMarketDataCall runs SubscribeMarketData(instrument, channels) on c, answers it
// with status on connection generation, and fails unless the call returns that refusal.
func refuseMarketDataCall(t *testing.T, c *Client, instrument, channels uint32,
	status model.Status, generation uint64) {
	t.Helper()
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), instrument, channels,
			func(MarketDataEvent) {})
		result <- err
	}()
	waitForMarketDataWaiters(c, c.marketData, instrument, 1)
	refusal := marketDataSubscribedFrame(instrument, channels, 0)
	refusal.Status = uint32(status)
	if err := c.handle(refusal, generation); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var refused *StatusError
		if !errors.As(err, &refused) || refused.Status != status {
			t.Fatalf("the call for instrument %d, channels %d returned %v, want %v",
				instrument, channels, err, status)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
		t.Fatal("the call was never answered")
	}
}

// resumedMarketData installs a new connection (generation+1) and returns what its
// resumption asks: instrument → md_subscribe.
func resumedMarketData(c *Client) map[uint32]wire.MarketDataSubscribe {
	c.mu.Lock()
	c.generation++
	frames := c.marketData.resume(c.session)
	c.mu.Unlock()
	resumed := map[uint32]wire.MarketDataSubscribe{}
	for _, frame := range frames {
		var subscribe wire.MarketDataSubscribe
		subscribe.Decode(frame[wire.HeaderSize:])
		subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
		resumed[subscribe.Instrument] = subscribe
	}
	return resumed
}

// TestMarketDataRefusedUnsubscriptionStaysResumed: an unsubscription refused
// rate_limited changed nothing on the server, and its caller was told so; the next
// connection must resume the instrument still. Recorded when sent, the unsubscription
// dropped the instrument from every later resumption: its updates stopped after a
// reconnect, with no error.
func TestMarketDataRefusedUnsubscriptionStaysResumed(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.lastOp = wire.ChannelBook, 40
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	refuseMarketDataCall(t, c, 7, 0, model.StatusRateLimited, 1)
	resumed := resumedMarketData(c)
	if subscribe, ok := resumed[7]; !ok || subscribe.Channels != wire.ChannelBook ||
		subscribe.FromOp != 40 {
		t.Fatalf("connection 2 resumes %v, want instrument 7 with book (%d) from op 40: "+
			"its unsubscription was refused", resumed, wire.ChannelBook)
	}
}

// TestMarketDataRefusedNewInstrumentIsNotResumed: a new instrument refused
// session_limit (or permission_denied) is not subscribed, and its caller was told so;
// recorded when sent, it was asked again on every reconnect, refused again each time,
// each a request of the client's rate.
func TestMarketDataRefusedNewInstrumentIsNotResumed(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7] = wire.ChannelBook
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	refuseMarketDataCall(t, c, 9, wire.ChannelBook, model.StatusSessionLimit, 1)
	refuseMarketDataCall(t, c, 10, wire.ChannelTop, model.StatusPermissionDenied, 1)
	resumed := resumedMarketData(c)
	if _, ok := resumed[7]; !ok || len(resumed) != 1 {
		t.Fatalf("connection 2 resumes %v, want instrument 7 alone: 9 and 10 were refused",
			resumed)
	}
}

// TestMarketDataRetryAfterAnUnsubscriptionSent: a resumption refused busy is retried
// later on its connection, with the channels the instrument is to have there. A caller
// unsubscribed the instrument meanwhile (sent, not answered yet): the retry must not go
// out, or the server, applying the frames in order, subscribes the instrument again
// after the unsubscription its caller is told succeeded.
func TestMarketDataRetryAfterAnUnsubscriptionSent(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.lastOp = wire.ChannelBook, 50
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming 7 from op 50.
	s.resume(c.session)
	c.outbox = c.outbox[:0]
	c.mu.Unlock()
	var retries []func()
	testHookAfterDelay = func(_ time.Duration, retry func()) { retries = append(retries, retry) }
	t.Cleanup(func() { testHookAfterDelay = nil })
	refused := marketDataSubscribedFrame(7, wire.ChannelBook, 50)
	refused.Status = uint32(model.StatusBusy)
	if err := c.handle(refused, 2); err != nil {
		t.Fatal(err)
	}
	unsubscribed := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, 0, nil)
		unsubscribed <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	defer func() { // Answer the unsubscription, so that its call ends.
		if err := c.handle(marketDataSubscribedFrame(7, 0, 0), 2); err != nil {
			t.Error(err)
		}
		if err := <-unsubscribed; err != nil {
			t.Errorf("the unsubscription returned %v", err)
		}
	}()
	if len(retries) != 1 {
		t.Fatalf("%d retries scheduled for the busy resumption, want 1", len(retries))
	}
	retries[0]()
	c.mu.Lock()
	outbox := c.outbox
	c.mu.Unlock()
	for _, frame := range outbox {
		var subscribe wire.MarketDataSubscribe
		subscribe.Decode(frame[wire.HeaderSize:])
		subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
		if subscribe.Channels != 0 {
			t.Fatalf("after the unsubscription, the retry asks for instrument %d with "+
				"channels %d: it subscribes the instrument again", subscribe.Instrument,
				subscribe.Channels)
		}
	}
}

// TestMarketDataAnsweredInstrumentResumesFromTheNewestOpRead: once an instrument's
// resumption is answered on a connection, every update read there after it comes after
// every update of that instrument up to its op (one publisher, one order), so the next
// resumption asks from the newest op read, not from the op the answered one asked: a
// quiet instrument would otherwise ask from an op ever older, and be answered
// market_data_resume_gap once the server's history no longer holds it.
func TestMarketDataAnsweredInstrumentResumesFromTheNewestOpRead(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.instruments[8], s.lastOp = wire.ChannelBook, wire.ChannelBook, 50
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming 7 and 8 from op 50.
	s.resume(c.session)
	c.mu.Unlock()
	update := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 30, Instrument: 8, Op: 200}).Encode(update)
	for _, frame := range []*wire.Frame{marketDataSubscribedFrame(7, wire.ChannelBook, 50),
		marketDataSubscribedFrame(8, wire.ChannelBook, 50),
		{Kind: wire.KindMarketData, Body: update}} {
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	resumed := resumedMarketData(c)
	if resumed[7].FromOp != 200 || resumed[8].FromOp != 200 {
		t.Fatalf("connection 3 resumes 7 from op %d and 8 from op %d, want both from 200",
			resumed[7].FromOp, resumed[8].FromOp)
	}
}
