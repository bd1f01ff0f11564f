package client

import (
	"log/slog"
	"runtime"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataOfAReplacedConnectionIsNotHandled: market data has the report stream's
// hazard (TestReportsOfAReplacedConnectionAreNotHandled). The reconnector installs a new
// connection and resumes every instrument from the last op handed over (here 10) while
// the old connection's reader, back from a handler, still holds an update of op 12 in its
// buffer. Handed over, it would reach the book after the resumption was asked: the new
// connection replays it again, and after a failover that lost it the new primary's
// update with its sequence would be taken for one the book already has. Only frames of
// the current connection are handed over.
func TestMarketDataOfAReplacedConnectionIsNotHandled(t *testing.T) {
	var handled []uint64
	s := newMarketDataSubscription(func(event MarketDataEvent) {
		for _, update := range event.Updates {
			handled = append(handled, update.Op)
		}
	})
	s.instruments[1], s.lastOp = wire.ChannelBook, 10
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	c.mu.Lock()
	c.generation++ // The reconnector installs connection 2 and resumes from op 10.
	c.mu.Unlock()
	update := func(op uint64) *wire.Frame {
		body := make([]byte, model.MarketDataUpdateSize)
		(&model.MarketDataUpdate{Sequence: op, Instrument: 1, Op: op}).Encode(body)
		return &wire.Frame{Kind: wire.KindMarketData, Body: body}
	}
	if err := c.handle(update(12), 1); err != nil { // Connection 1's late frame.
		t.Fatal(err)
	}
	if err := c.handle(update(11), 2); err != nil {
		t.Fatal(err)
	}
	if len(handled) != 1 || handled[0] != 11 || s.lastOp != 11 {
		t.Fatalf("handed over ops %v, last op %d: want only connection 2's op 11", handled,
			s.lastOp)
	}
}

// marketDataSubscribedFrame is an ok md_subscribed answer to an md_subscribe of
// instrument with channels and fromOp (echoed, as the server does).
func marketDataSubscribedFrame(instrument, channels uint32, fromOp uint64) *wire.Frame {
	body := make([]byte, wire.MarketDataSubscribedSize)
	(&wire.MarketDataSubscribed{Instrument: instrument, Channels: channels,
		FromOp: fromOp}).Encode(body)
	return &wire.Frame{Kind: wire.KindMarketDataSubscribed, Status: uint32(model.StatusOK),
		Body: body}
}

// waitForMarketDataWaiters returns once count SubscribeMarketData calls wait for their
// answer about instrument.
func waitForMarketDataWaiters(c *Client, s *marketDataSubscription, instrument uint32,
	count int) {
	for waiting := false; !waiting; runtime.Gosched() {
		c.mu.Lock()
		callers := 0
		for _, ask := range s.asked[instrument] {
			callers += len(ask.callers)
		}
		waiting = callers == count
		c.mu.Unlock()
	}
}
