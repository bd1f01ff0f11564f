package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// sentSubscribes returns the md_subscribe frames in c's outbox, and empties it.
func sentSubscribes(c *Client) []wire.MarketDataSubscribe {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sent []wire.MarketDataSubscribe
	for _, frame := range c.outbox {
		var subscribe wire.MarketDataSubscribe
		subscribe.Decode(frame[wire.HeaderSize:])
		sent = append(sent, subscribe)
	}
	c.outbox = c.outbox[:0]
	return sent
}

// TestMarketDataShardOpsRefusedByAnOlderServer: the client keeps a resume op per shard,
// so it sets md_subscribe channel bit 3 (PROTOCOL.md 18), which a server older than the
// bit refuses invalid_body (echoing the channels asked). The client then sends the same
// frame again without the bit, and the caller gets that answer (its channels without the
// bit); later frames on that connection go without it, and a new connection tries the
// bit again. A refusal of a frame that also carried a bit still unknown is the caller's,
// and leaves the bit in use.
func TestMarketDataShardOpsRefusedByAnOlderServer(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	call := func(instrument, channels uint32) chan MarketDataSubscribed {
		answers := make(chan MarketDataSubscribed, 1)
		go func() {
			answer, _ := c.SubscribeMarketData(context.Background(), instrument, channels, nil)
			answers <- answer
		}()
		waitForMarketDataWaiters(c, s, instrument, 1)
		return answers
	}
	answer := func(instrument, channels uint32, status model.Status) {
		t.Helper()
		frame := marketDataSubscribedFrame(instrument, channels, 0)
		frame.Status = uint32(status)
		if err := c.handle(frame, c.generation); err != nil {
			t.Fatal(err)
		}
	}
	returned := func(answers chan MarketDataSubscribed) MarketDataSubscribed {
		t.Helper()
		select {
		case got := <-answers:
			return got
		case <-time.After(waitLimit): // A bound on a wait of microseconds (a hang guard).
			t.Fatal("the call was never answered")
			return MarketDataSubscribed{}
		}
	}
	const bit = wire.ChannelShardOps

	first := call(7, wire.ChannelBook)
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Channels != wire.ChannelBook|bit {
		t.Fatalf("sent %+v; want instrument 7 with book and bit 3", sent)
	}
	answer(7, wire.ChannelBook|bit, model.StatusInvalidBody) // An older server.
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Instrument != 7 ||
		sent[0].Channels != wire.ChannelBook || sent[0].FromOp != 0 {
		t.Fatalf("after invalid_body to bit 3, sent %+v; want the frame again without it",
			sent)
	}
	answer(7, wire.ChannelBook, model.StatusOK)
	if got := returned(first); got.Status != model.StatusOK ||
		got.Channels != wire.ChannelBook {
		t.Fatalf("the call returned %+v; want ok with book", got)
	}

	second := call(9, wire.ChannelTop)
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Channels != wire.ChannelTop {
		t.Fatalf("sent %+v; want instrument 9 without bit 3 on this connection", sent)
	}
	answer(9, wire.ChannelTop, model.StatusOK)
	returned(second)

	c.mu.Lock()
	c.generation++ // Connection 2, perhaps to a newer server.
	c.outbox = append(c.outbox, s.resume(c.session)...)
	c.mu.Unlock()
	resumed := sentSubscribes(c)
	if len(resumed) != 2 { // Instruments 7 and 9: the loop below must check something.
		t.Fatalf("connection 2 resumes %+v; want instruments 7 and 9", resumed)
	}
	for _, sent := range resumed {
		if sent.Channels&bit == 0 {
			t.Fatalf("connection 2 resumes %+v; want bit 3 set again", sent)
		}
	}

	const unknown = 1 << 5 // Bit 4 is ChannelFromOpRead now.
	third := call(11, wire.ChannelLevels|unknown)
	sentSubscribes(c)
	answer(11, wire.ChannelLevels|unknown|bit, model.StatusInvalidBody)
	got := returned(third)
	if got.Status != model.StatusInvalidBody || got.Channels != wire.ChannelLevels|unknown {
		t.Fatalf("a frame with bit 5 as well: %+v; want invalid_body to the caller", got)
	}
	call(13, wire.ChannelLevels)
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Channels != wire.ChannelLevels|bit {
		t.Fatalf("sent %+v; want bit 3 still set", sent)
	}
}
