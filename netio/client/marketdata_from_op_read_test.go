package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataResumptionSaysWhenItsFromOpWasRead (PROTOCOL.md 8a, step 8 and channel
// bit 4): a resumption from the op of an update read carries bit 4 (from_op_read), so
// that a new primary whose log ends just before that op, having lost it, answers
// market_data_resume_gap instead of ok (and a book kept by sequence would skip its own
// update of that op as a duplicate). A resumption from a live_from_op with nothing read
// after it does not carry it (the server may have given that op as its newest + 1).
// A server older than the bit refuses it invalid_body: the frame goes again without
// it, bit 3 kept, and a new connection tries the bit again.
func TestMarketDataResumptionSaysWhenItsFromOpWasRead(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	const read, shardOps = wire.ChannelFromOpRead, wire.ChannelShardOps
	answers := make(chan MarketDataSubscribed, 1)
	go func() {
		answer, _ := c.SubscribeMarketData(context.Background(), 7, wire.ChannelBook, nil)
		answers <- answer
	}()
	waitForMarketDataWaiters(c, s, 7, 1)
	sentSubscribes(c)
	subscribed := marketDataSubscribedFrame(7, wire.ChannelBook|shardOps, 0)
	subscribed.Aux = 5 // live_from_op: nothing read at op 5 yet.
	if err := c.handle(subscribed, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-answers:
	case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
		t.Fatal("the call was never answered")
	}
	reconnect := func() wire.MarketDataSubscribe {
		t.Helper()
		c.mu.Lock()
		c.generation++
		c.outbox = append(c.outbox, s.resume(c.session)...)
		c.mu.Unlock()
		sent := sentSubscribes(c)
		if len(sent) != 1 {
			t.Fatalf("resumed %+v; want instrument 7", sent)
		}
		return sent[0]
	}
	if sent := reconnect(); sent.FromOp != 5 || sent.Channels != wire.ChannelBook|shardOps {
		t.Fatalf("resumed %+v before anything was read: want from op 5 (live_from_op) "+
			"without bit 4", sent)
	}
	answered := marketDataSubscribedFrame(7, wire.ChannelBook|shardOps, 5)
	answered.Aux = 5
	if err := c.handle(answered, c.generation); err != nil {
		t.Fatal(err)
	}
	update := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: 1, Instrument: 7, Op: 5}).Encode(update)
	if err := c.handle(&wire.Frame{Kind: wire.KindMarketData, Body: update},
		c.generation); err != nil {
		t.Fatal(err)
	}
	sent := reconnect()
	if sent.FromOp != 5 || sent.Channels != wire.ChannelBook|shardOps|read {
		t.Fatalf("resumed %+v after reading the update of op 5: want from op 5 with "+
			"bit 4 (from_op_read)", sent)
	}
	refused := marketDataSubscribedFrame(7, sent.Channels, 5)
	refused.Status = uint32(model.StatusInvalidBody) // A server older than bit 4.
	if err := c.handle(refused, c.generation); err != nil {
		t.Fatal(err)
	}
	if again := sentSubscribes(c); len(again) != 1 || again[0].FromOp != 5 ||
		again[0].Channels != wire.ChannelBook|shardOps {
		t.Fatalf("after invalid_body to bit 4, sent %+v; want the resumption again "+
			"without bit 4, with bit 3", again)
	}
	if sent := reconnect(); sent.Channels&read == 0 {
		t.Fatalf("the next connection resumes %+v; want bit 4 tried again", sent)
	}
}
