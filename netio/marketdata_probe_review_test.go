package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataStaleSubscriberHeldInGnetBufferIsProbed (review of md49, PROTOCOL.md 8a
// "When it comes, exactly": a connection that reads without writing is told within two
// checks; each check that finds nothing else on its way to it has the loop look at what
// gnet still holds for it, writing nothing since hunt52d). The subscriber reads nothing while entries of 64 updates are released one at
// a time (each published before the next), until the socket buffers are full and the
// feed skips it with more than half its bound held in gnet's outbound buffer. Then it
// reads, sending nothing, and nothing more is released, and the server's own heartbeats
// are off (HeartbeatInterval past the test): only the recheck's probe lets the
// server see that it drained, so without the probe md_stale never comes.
// TestMarketDataDrainedSubscriberIsToldStaleInAQuietMarket never reaches that state
// (the socket buffers absorb its flood), so it passes with the probe removed.
func TestMarketDataStaleSubscriberHeldInGnetBufferIsProbed(t *testing.T) {
	const perEntry, entriesMax, bytesMax = 64, 1 << 13, 64 << 10 // At most 64 MiB released.
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: bytesMax}
		c.HeartbeatInterval = waitLimit + waitLimit/2
		c.SilenceTimeout = 2 * waitLimit // The subscriber sends nothing.
	}})
	feed := newMarketFeed(h)
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 7)
	slow.marketDataSubscribe(7, 5, wire.ChannelBook, 0)
	slow.untilSubscribed()
	held := false
	for entry := 0; entry < entriesMax && !held; entry++ {
		sentBefore := h.server.MarketDataStats().UpdatesSent
		feed.release(5, perEntry)
		feed.waitPublished(t)
		waitFor(t, "the loop to write what the feed lent it", func() bool {
			queued, _ := h.server.UnsentSeen()
			return queued == 0
		})
		// Skipped (its entry not sent: it is stale now) with more than half the bound in
		// gnet's buffer: no recheck can send the notice without learning more.
		_, buffered := h.server.UnsentSeen()
		held = h.server.MarketDataStats().UpdatesSent == sentBefore && buffered > bytesMax/2
	}
	if !held {
		t.Fatalf("%d entries released and never skipped with over half the bound buffered",
			entriesMax)
	}
	lastSequence := uint64(0)
	for {
		frame := slow.next() // Fails after waitLimit of silence: no notice.
		if frame.Kind == wire.KindMarketDataStale {
			var body wire.MarketDataStale
			body.Decode(frame.Body)
			if want := lastSequence/perEntry + 1; body.DroppedFromOp != want ||
				model.Status(frame.Status) != model.StatusMarketDataFellBehind {
				t.Fatalf("md_stale status %d dropped_from_op %d after sequence %d, want 231, %d",
					frame.Status, body.DroppedFromOp, lastSequence, want)
			}
			break
		}
		if frame.Kind != wire.KindMarketData {
			t.Fatalf("unexpected %s frame (status %d)", frame.Kind, frame.Status)
		}
		for _, u := range decodeUpdates(frame.Body) {
			lastSequence = u.Sequence
		}
	}
}
