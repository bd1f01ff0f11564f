package netio_test

import (
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataQueueBoundHoldsWhenConnectionsClose (review53b, claim: the md_subscribe
// queue's bound, limits.go: "what may wait [is] at most marketDataCommandsMax plus
// sixteen per connection", is not a bound): the 16 reserved places were counted on the
// connection object, and a connection that closes leaves its frames queued until the
// publisher reaches them, while the connection that replaces it starts from 0. With the
// publisher busy (held here on one frame; in production a long replay, or a flood ahead),
// a client that connects, queues 16 md_subscribe past the full shared queue and closes,
// again and again, grows the queue by 16 each time with only ConnectionsMax connections
// ever open: without bound in memory, while ConnectionsMax (4 here) should cap it at
// 1,024 + 16 x 4.
//
// Method: the flood and the churn are checked as queued (not busy) by the reply to a
// request each connection sends after its frames (a connection's frames are handled in
// order); the queue's length is read from the feed.
func TestMarketDataQueueBoundHoldsWhenConnectionsClose(t *testing.T) {
	const connectionsMax = 4
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = connectionsMax
	}})
	held, releaseOnce := holdMarketDataPublisher(t)

	subscribes := func(session uint64, first, count int) []byte {
		var frames []byte
		body := make([]byte, wire.MarketDataSubscribeSize)
		for index := range count {
			(&wire.MarketDataSubscribe{Instrument: uint32(first + index),
				Channels: wire.ChannelLevels}).Encode(body)
			frames = wire.AppendFrame(frames, &wire.Frame{
				Kind: wire.KindMarketDataSubscribe, Session: session}, body)
		}
		return frames
	}
	// untilReply reads c's answers up to the reply to request 1 and counts the busy ones.
	untilReply := func(c *rawConn) (busy int) {
		t.Helper()
		for {
			frame := c.next()
			switch {
			case frame.Kind == wire.KindReply && frame.Number == 1:
				return busy
			case frame.Kind == wire.KindMarketDataSubscribed &&
				frame.Status == uint32(model.StatusBusy):
				busy++
			default:
				t.Fatalf("got %s status %d", frame.Kind, frame.Status)
			}
		}
	}

	const sharedMax = 1024 // PROTOCOL.md 8a.
	const reserved = 16
	flooder := dialRaw(t, h.server.Address())
	flooder.login(clientAll, 1, secretOne, 7)
	flooder.write(subscribes(7, 1, 1))
	select {
	case <-held:
	case <-time.After(waitLimit):
		t.Fatal("the publisher never took the first md_subscribe")
	}
	flooder.write(append(subscribes(7, 2, sharedMax+100),
		requestFrame(7, 1, model.OperationLookupAccounts, encodeIDs(1))...))
	if busy := untilReply(flooder); busy != 100 {
		t.Fatalf("flood: %d busy, want 100", busy)
	}

	const churns = 8
	for churn := range churns {
		session := uint64(100 + churn)
		c := dialRaw(t, h.server.Address())
		c.login(clientAll, 1, secretOne, session)
		c.write(append(subscribes(session, 10000+churn*reserved, reserved),
			requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1))...))
		untilReply(c)
		c.conn.Close()
		waitFor(t, "the server to close the churned connection", func() bool {
			return h.server.Stats().ConnectionsOpen == 1
		})
	}
	bound := sharedMax + reserved*connectionsMax
	if waiting := netio.MarketDataOrdersWaiting(h.server); waiting > bound {
		t.Fatalf("%d md_subscribe frames wait with at most %d connections ever open, "+
			"want at most %d (1,024 + 16 per connection)", waiting, connectionsMax, bound)
	}
	releaseOnce()
}
