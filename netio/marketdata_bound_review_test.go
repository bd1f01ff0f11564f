package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataUpdateThatWouldPassTheBoundIsDropped (review of md49, PROTOCOL.md 8a
// "When it comes, exactly"): a connection falls behind at the first update "that would
// take [its unsent bytes] past the bound". With nothing unsent and a bound of one frame
// header and ten updates, one entry of twenty updates must send at most ten (exactly
// the bound), then md_stale; the feed used to test the bound before appending each
// update, so it sent the eleventh too and left the connection one update past its bound.
func TestMarketDataUpdateThatWouldPassTheBoundIsDropped(t *testing.T) {
	const fitting = 10
	const bytesMax = wire.HeaderSize + fitting*model.MarketDataUpdateSize
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: bytesMax}
	}})
	feed := newMarketFeed(h)
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.marketDataSubscribe(1, 5, wire.ChannelBook, 0)
	r.untilSubscribed()
	// A request answered on the connection's loop after md_subscribed's write was
	// accounted for: nothing is unsent when the entry is published.
	r.roundTrip(1, model.OperationLookupAccounts, 0, nil)
	feed.release(5, 2*fitting)
	var updates []model.MarketDataUpdate
	for {
		frame := r.next()
		if frame.Kind == wire.KindMarketDataStale {
			var body wire.MarketDataStale
			body.Decode(frame.Body)
			if body.DroppedFromOp != feed.op {
				t.Fatalf("md_stale dropped_from_op %d, want %d", body.DroppedFromOp, feed.op)
			}
			break
		}
		if frame.Kind != wire.KindMarketData {
			t.Fatalf("unexpected %s frame (status %d)", frame.Kind, frame.Status)
		}
		updates = append(updates, decodeUpdates(frame.Body)...)
	}
	if sent := wire.HeaderSize + len(updates)*model.MarketDataUpdateSize; len(updates) > fitting {
		t.Fatalf("%d updates sent (%d bytes) past a bound of %d bytes: want at most %d",
			len(updates), sent, bytesMax, fitting)
	}
}
