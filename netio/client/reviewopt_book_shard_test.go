package client

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReviewFollowedBookTakesItsShardFromEachAnswer (review reviewopt, session 40): a
// FollowBook of instrument 3 (shard 1) starts on a server older than md_subscribe's
// channel bit 3 (a rolling upgrade: the primary not upgraded yet). The server refuses
// the bit, the client sends the frame again without it, and the answer names shard 0
// (such a server serves every instrument by shard 0's feed), so the builder keeps shard
// 0. The client then fails over to an upgraded server: its resumption carries the bit,
// is answered by shard 1's feed (header number 1), and that feed then drops updates of
// instrument 3 for this connection (md_stale naming shard 1). The book must be rebuilt:
// on main the builder still held shard 0 from the first answer, took the notice for
// another shard's, and kept the book marked exact with updates missing (until a later
// update of the instrument happened to show the sequence gap).
func TestReviewFollowedBookTakesItsShardFromEachAnswer(t *testing.T) {
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1}
	inbox := &bookInbox{wake: make(chan struct{}, 1)}
	type result struct {
		answer MarketDataSubscribed
		err    error
	}
	results := make(chan result, 1)
	go func() { // As FollowBook subscribes.
		answer, err := c.subscribeMarketData(context.Background(), 3, wire.ChannelBook,
			nil, inbox)
		results <- result{answer, err}
	}()
	for c.waitingMarketData(3) == 0 {
		runtime.Gosched()
	}
	const bit = wire.ChannelShardOps
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Channels != wire.ChannelBook|bit {
		t.Fatalf("sent %+v; want instrument 3 with bit 3", sent)
	}
	refusal := marketDataSubscribedFrame(3, wire.ChannelBook|bit, 0) // The older server.
	refusal.Status = uint32(model.StatusInvalidBody)
	if err := c.handle(refusal, 1); err != nil {
		t.Fatal(err)
	}
	if sent := sentSubscribes(c); len(sent) != 1 || sent[0].Channels != wire.ChannelBook {
		t.Fatalf("after the refusal, sent %+v; want the frame again without bit 3", sent)
	}
	first := marketDataSubscribedFrame(3, wire.ChannelBook, 0)
	first.Aux = 41 // Shard 0's op: the older server's only feed (number 0).
	if err := c.handle(first, 1); err != nil {
		t.Fatal(err)
	}
	var answered result
	select {
	case answered = <-results:
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the subscription was never answered")
	}
	if answered.err != nil || answered.answer.Shard != 0 {
		t.Fatalf("answer %+v, %v; want ok from shard 0", answered.answer, answered.err)
	}
	builder := &BookBuilder{Book: Book{Instrument: 3}, shard: answered.answer.Shard}
	if builder.Snapshot(model.BookHeader{Instrument: 3, Sequence: 4, Op: 9}, nil) {
		t.Fatal("the snapshot was not taken")
	}
	changed := func(*BookBuilder, []model.MarketDataUpdate) {}
	needSnapshot := false
	drain := func() {
		inbox.mutex.Lock()
		events := inbox.events
		inbox.events = nil
		inbox.mutex.Unlock()
		for _, event := range events {
			needSnapshot = builder.handle(event, 3, changed) || needSnapshot
		}
	}
	drain()
	if needSnapshot || !builder.Synced {
		t.Fatal("the first answer restarted the book")
	}

	c.mu.Lock()
	c.generation++ // Failed over to an upgraded server.
	c.outbox = append(c.outbox, c.marketData.resume(c.session)...)
	c.mu.Unlock()
	resumed := sentSubscribes(c)
	if len(resumed) != 1 || resumed[0].Channels != wire.ChannelBook|bit {
		t.Fatalf("resumption %+v; want instrument 3 with bit 3", resumed)
	}
	answer := marketDataSubscribedFrame(3, wire.ChannelBook|bit, resumed[0].FromOp)
	answer.Number, answer.Aux = 1, 6 // Served by shard 1's feed, live from its op 6.
	if err := c.handle(answer, c.generation); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, wire.MarketDataStaleSize)
	(&wire.MarketDataStale{Shard: 1, DroppedFromOp: 7}).Encode(body)
	if err := c.handle(&wire.Frame{Kind: wire.KindMarketDataStale,
		Status: uint32(model.StatusMarketDataFellBehind), Body: body}, c.generation); err != nil {
		t.Fatal(err)
	}
	drain()
	if !needSnapshot || builder.Synced {
		t.Fatalf("shard 1's md_stale after shard 1's answer for the book's instrument: "+
			"snapshot needed %v, book exact %v; want a rebuild (the builder's shard: %d)",
			needSnapshot, builder.Synced, builder.shard)
	}
}

// waitingMarketData counts the md_subscribe frames of instrument waiting for an answer.
func (c *Client) waitingMarketData(instrument uint32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marketData == nil {
		return 0
	}
	return len(c.marketData.asked[instrument])
}
