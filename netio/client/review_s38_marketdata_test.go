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

// TestMarketDataRetriedResumptionAsksFromTheRefusedOp (review s38, reviewclient; fails
// at main 78ccbcd, fixed on this branch: the retry asks from the refused one's
// from_op): a resumption refused busy is sent again later (resumeMarketDataLater) from
// s.lastOp as it is when the retry runs, not from the op the refused resumption
// asked. lastOp is one op for every instrument: the other instruments' resumptions,
// answered ok meanwhile, deliver updates that move it. Instrument 7's updates between
// the op the refused resumption asked (50) and the moved lastOp (200) were never sent
// on this connection (7 was not subscribed there), and the retry, answered ok, asks past
// them: they are never sent, with no market_data_resume_gap, and a book built from the
// updates is wrong though the client promises it exact (SubscribeMarketData's doc).
//
// Method: the reader's frames are handled on the test's goroutine (handle, connection
// 2's generation); testHookAfterDelay hands the retry to the test; the retry's frame is
// read from the outbox (no connection: writeLocked leaves it there).
func TestMarketDataRetriedResumptionAsksFromTheRefusedOp(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.instruments[8], s.lastOp = wire.ChannelBook, wire.ChannelBook, 50
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming 7 and 8 from op 50.
	s.resume(c.session)
	c.outbox = c.outbox[:0]
	c.mu.Unlock()
	var retries []func()
	testHookAfterDelay = func(_ time.Duration, retry func()) { retries = append(retries, retry) }
	t.Cleanup(func() { testHookAfterDelay = nil })
	refused := marketDataSubscribedFrame(7, wire.ChannelBook, 50)
	refused.Status = uint32(model.StatusBusy)
	update := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 30, Instrument: 8, Op: 200}).Encode(update)
	for _, frame := range []*wire.Frame{refused,
		marketDataSubscribedFrame(8, wire.ChannelBook, 50),
		{Kind: wire.KindMarketData, Body: update}} { // Instrument 8, live, op 200.
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	if len(retries) != 1 {
		t.Fatalf("%d retries scheduled for the busy resumption, want 1", len(retries))
	}
	retries[0]()
	c.mu.Lock()
	outbox := c.outbox
	c.mu.Unlock()
	if len(outbox) != 1 {
		t.Fatalf("the retry queued %d frames, want 1", len(outbox))
	}
	var subscribe wire.MarketDataSubscribe
	subscribe.Decode(outbox[0][wire.HeaderSize:])
	subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
	if subscribe.Instrument != 7 || subscribe.FromOp > 50 {
		t.Fatalf("the retried resumption asks for instrument %d from op %d, want 7 from "+
			"op 50 (what the refused one asked): instrument 7's updates from op 50 up to "+
			"%d are never sent, with no resume gap", subscribe.Instrument, subscribe.FromOp,
			subscribe.FromOp-1)
	}
}

// TestMarketDataResumptionAfterARefusedOneAsksFromItsOp (review s38, reviewclient;
// FAILS at main 78ccbcd): the same single lastOp, through a reconnect instead of the
// retry. Connection 2 refused instrument 7's resumption (from op 50) busy, took 8's, and
// delivered an update of 8 at op 200; it is lost before the retry runs (the retry is
// bound to it and dropped). Connection 3's resumption (install, resume) asks for every
// instrument from lastOp, 200: 7's updates from op 50 up to 199, sent on no connection,
// are skipped with no resume gap. The op a resumption asks from must be where that
// instrument's delivery stopped, not the newest op of any instrument.
func TestMarketDataResumptionAfterARefusedOneAsksFromItsOp(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.instruments[8], s.lastOp = wire.ChannelBook, wire.ChannelBook, 50
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming 7 and 8 from op 50.
	s.resume(c.session)
	c.mu.Unlock()
	testHookAfterDelay = func(time.Duration, func()) {} // Connection 2 is lost first.
	t.Cleanup(func() { testHookAfterDelay = nil })
	refused := marketDataSubscribedFrame(7, wire.ChannelBook, 50)
	refused.Status = uint32(model.StatusBusy)
	update := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 30, Instrument: 8, Op: 200}).Encode(update)
	for _, frame := range []*wire.Frame{refused,
		marketDataSubscribedFrame(8, wire.ChannelBook, 50),
		{Kind: wire.KindMarketData, Body: update}} {
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	c.generation++ // install: connection 3.
	frames := s.resume(c.session)
	c.mu.Unlock()
	for _, frame := range frames {
		var subscribe wire.MarketDataSubscribe
		subscribe.Decode(frame[wire.HeaderSize:])
		subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
		if subscribe.Instrument == 7 && subscribe.FromOp > 50 {
			t.Fatalf("connection 3 resumes instrument 7 from op %d, want op 50: its "+
				"updates from op 50 up to %d were sent on no connection and are skipped "+
				"with no resume gap", subscribe.FromOp, subscribe.FromOp-1)
		}
	}
}

// TestMarketDataRefusedChangeIsNotResumed (review s38, reviewclient; FAILS at main
// 78ccbcd): SubscribeMarketData records the channels asked for (s.instruments) when it
// sends the frame, and nothing undoes that when the server refuses it. Instrument 7 is
// subscribed with channels book; a call changing it to top is refused rate_limited
// ("nothing changed, send it again later", PROTOCOL.md 8a) and returns that refusal, so
// its caller knows it still has book. After a reconnect the resumption asks for 7 with
// channels top: the level and trade updates a book is built from stop, with no error,
// because of a change the server refused and the caller was told was refused. (Likewise
// a refused unsubscription is not resumed, and a subscription refused session_limit or
// permission_denied is resumed on every reconnect.)
func TestMarketDataRefusedChangeIsNotResumed(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7] = wire.ChannelBook
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), 7, wire.ChannelTop, nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	refusal := marketDataSubscribedFrame(7, wire.ChannelTop, 0)
	refusal.Status = uint32(model.StatusRateLimited)
	if err := c.handle(refusal, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var refused *StatusError
		if !errors.As(err, &refused) || refused.Status != model.StatusRateLimited {
			t.Fatalf("the change to top returned %v, want the rate_limited refusal", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
		t.Fatal("the call was never answered")
	}
	c.mu.Lock()
	c.generation++ // install: connection 2.
	frames := s.resume(c.session)
	c.mu.Unlock()
	if len(frames) != 1 {
		t.Fatalf("connection 2 resumes %d instruments, want 1", len(frames))
	}
	var subscribe wire.MarketDataSubscribe
	subscribe.Decode(frames[0][wire.HeaderSize:])
	subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
	if subscribe.Instrument != 7 || subscribe.Channels != wire.ChannelBook {
		t.Fatalf("connection 2 resumes instrument %d with channels %d, want 7 with book "+
			"(%d): the change to top was refused, and the caller told so",
			subscribe.Instrument, subscribe.Channels, wire.ChannelBook)
	}
}

// TestMarketDataResumptionCutShortAsksFromEachInstrumentsOp (review s38, reviewclient;
// FAILS at main 78ccbcd): the single lastOp with no refusal at all. Connection 2
// resumes 7 and 8 from op 50; the server serves the frames in order: 7's replay and
// answer, then 7's live updates (op 310) while 8's replay is still to come, and the
// connection is lost there. Connection 3 resumes 8 from op 310, past 8's updates from op
// 50 that no connection sent: a failover during the resumptions skips them, with no
// resume gap. 7's replayed update alone (op 300) is enough: the frames after 7's answer
// need not be live ones.
func TestMarketDataResumptionCutShortAsksFromEachInstrumentsOp(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	s.instruments[7], s.instruments[8], s.lastOp = wire.ChannelBook, wire.ChannelBook, 50
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming 7 and 8 from op 50.
	s.resume(c.session)
	c.mu.Unlock()
	replayed := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 12, Instrument: 7, Op: 300}).Encode(replayed)
	live := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 13, Instrument: 7, Op: 310}).Encode(live)
	for _, frame := range []*wire.Frame{{Kind: wire.KindMarketData, Body: replayed},
		marketDataSubscribedFrame(7, wire.ChannelBook, 50),
		{Kind: wire.KindMarketData, Body: live}} {
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	c.generation++ // install: connection 3.
	frames := s.resume(c.session)
	c.mu.Unlock()
	for _, frame := range frames {
		var subscribe wire.MarketDataSubscribe
		subscribe.Decode(frame[wire.HeaderSize:])
		subscribe.Channels &^= wire.ChannelShardOps // The opt-in (PROTOCOL.md 18), not a channel.
		if subscribe.Instrument == 8 && subscribe.FromOp > 50 {
			t.Fatalf("connection 3 resumes instrument 8 from op %d, want op 50: its "+
				"updates from op 50 up to %d were sent on no connection and are skipped "+
				"with no resume gap", subscribe.FromOp, subscribe.FromOp-1)
		}
	}
}
