package netio_test

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/netio/wire"
)

// releaseUpdate hands the feed one entry (one op) holding u, of instrument and kind as
// given, with its top of book's best bid at bidPrice.
func (f *marketFeed) releaseUpdate(instrument uint32, kind model.MarketDataKind,
	bidPrice uint64) {
	f.op++
	f.sequences[instrument]++
	var buffer event.Buffer
	buffer.BeginOp(f.op)
	buffer.AppendMarketData(&model.MarketDataUpdate{Sequence: f.sequences[instrument],
		Instrument: instrument, Kind: kind, Side: model.SideBuy, Price: bidPrice,
		Quantity: model.U128(1), OrderCount: 1, TradeID: f.op, BidPrice: bidPrice,
		BidQuantity: model.U128(1), BidOrderCount: 1, Op: f.op})
	f.consumer.Consume(&backend.Ready{FirstOp: f.op, LastOp: f.op, Events: &buffer})
}

// TestMarketDataTopChannelComparesWithWhatWasLastSent (PROTOCOL.md 8a: `top` sends the
// updates that change the best bid or ask "from what this connection was last sent for
// the instrument"): a connection that took instrument 5's top channel, then trades only
// (each trade update carries the top too: it was sent top 101 on one), then trades and
// top again, must be sent the next update whose top (100) differs from 101. The feed
// compared with the top it recorded while the top channel was on (100), and skipped the
// update: the client kept 101 as its best bid.
func TestMarketDataTopChannelComparesWithWhatWasLastSent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	feed := newMarketFeed(h)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	subscribe := func(channels uint32) {
		t.Helper()
		c.marketDataSubscribe(7, 5, channels, 0)
		if _, answer := c.untilSubscribed(); answer.Status != 0 {
			t.Fatalf("md_subscribe channels %d: status %d", channels, answer.Status)
		}
	}
	subscribe(wire.ChannelTop)
	feed.releaseUpdate(5, model.MarketDataTrade, 100)
	if updates := c.nextUpdates(1); updates[0].Sequence != 1 || updates[0].BidPrice != 100 {
		t.Fatalf("top channel: %+v, want sequence 1 with best bid 100", updates[0])
	}
	subscribe(wire.ChannelTrades)
	feed.releaseUpdate(5, model.MarketDataTrade, 101)
	if updates := c.nextUpdates(1); updates[0].Sequence != 2 || updates[0].BidPrice != 101 {
		t.Fatalf("trades channel: %+v, want sequence 2 with best bid 101", updates[0])
	}
	subscribe(wire.ChannelTrades | wire.ChannelTop)
	feed.releaseUpdate(5, model.MarketDataLevel, 100) // The best bid goes back to 100.
	feed.releaseUpdate(5, model.MarketDataTrade, 100) // Sent whatever the top (trades).
	updates := c.nextUpdates(1)
	if updates[0].Sequence != 3 {
		t.Fatalf("trades and top channels, last sent best bid 101: got sequence %d (best "+
			"bid %d) first, want sequence 3, whose best bid 100 differs from the 101 "+
			"last sent", updates[0].Sequence, updates[0].BidPrice)
	}
}
