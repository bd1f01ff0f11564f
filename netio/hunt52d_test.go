package netio_test

import (
	"net"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestHunt52dStaleSubscriberIsNotFedAHeartbeatPerPublish (hunt52d): a market-data
// subscriber that stops reading is skipped as stale once more than half its bound
// (SubscriberBytesMax) waits in gnet's buffer; from then on each publish that finds
// nothing else on its way to it probed gnet's buffer by writing it a heartbeat. A
// subscriber that reads nothing keeps every one of them: one 48-byte frame per publish
// (an entry of any instrument, or the 100 ms recheck), without bound, until the
// connection passed OutboundBytesMax and was closed as a slow consumer, although market
// data alone must never close one (limits.go, MarketDataSubscriberBytesMaxDefault). The
// subscriber here reads nothing while entries of an instrument it does not take are
// released one at a time: gnet's buffer for it must not grow with them.
func TestHunt52dStaleSubscriberIsNotFedAHeartbeatPerPublish(t *testing.T) {
	const perEntry, entriesMax, bytesMax = 64, 1 << 13, 64 << 10
	const unwantedEntries = 200
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: bytesMax}
		c.HeartbeatInterval = waitLimit + waitLimit/2 // No heartbeat of the ticker's.
		c.SilenceTimeout = 2 * waitLimit              // The subscriber sends nothing.
	}})
	feed := newMarketFeed(h)
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 7)
	slow.marketDataSubscribe(7, 5, wire.ChannelBook, 0)
	slow.untilSubscribed()
	loopWrote := func() {
		waitFor(t, "the loop to run what the feed lent it", func() bool {
			queued, _ := h.server.UnsentSeen()
			return queued == 0
		})
	}
	held := false
	for entry := 0; entry < entriesMax && !held; entry++ {
		sentBefore := h.server.MarketDataStats().UpdatesSent
		feed.release(5, perEntry)
		feed.waitPublished(t)
		loopWrote()
		_, buffered := h.server.UnsentSeen()
		held = h.server.MarketDataStats().UpdatesSent == sentBefore && buffered > bytesMax/2
	}
	if !held {
		t.Fatalf("%d entries released and never skipped with over half the bound buffered",
			entriesMax)
	}
	_, before := h.server.UnsentSeen()
	for range unwantedEntries {
		feed.release(6, 1) // Not subscribed: nothing of it is for the subscriber.
		feed.waitPublished(t)
		loopWrote()
	}
	_, after := h.server.UnsentSeen()
	// A probe may still be seen once or twice (the recheck's), not once per entry.
	if grown := after - before; grown > 4*wire.HeaderSize {
		t.Fatalf("gnet's buffer for a stale subscriber that reads nothing grew by %d bytes "+
			"over %d entries it does not take (%d heartbeats)", grown, unwantedEntries,
			grown/wire.HeaderSize)
	}
	if stats := h.server.Stats(); stats.SlowConsumers != 0 {
		t.Fatalf("%d slow consumers, want 0", stats.SlowConsumers)
	}
}

// TestHunt52dConnectionLimitRefusalsDoNotCountAsAttempts (hunt52d): PROTOCOL.md section 5
// counts against an address's limit of connections without a login "only connections
// that never send a login (stalled or garbage)". A connection the server refuses with
// connection_limit (every slot taken, section 14) never could send one, yet Controls had
// counted it on opening and never gave it back: a client retrying while the server was
// full was refused too_many_attempts for the rest of the minute once slots were free
// again. Whoever fills the slots (a flood from other addresses) then also locks out, for
// a minute after, every client that tried to connect meanwhile. The clock of the
// controls is stopped, so the minute cannot end during the test.
func TestHunt52dConnectionLimitRefusalsDoNotCountAsAttempts(t *testing.T) {
	const attemptsMax = 2
	stopped := time.Now()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = 1
		c.Admission = netio.NewControls(netio.ControlsConfig{
			LoginAttemptsPerMinute: attemptsMax, Now: func() time.Time { return stopped }})
	}})
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, 1) // Its count is given back by its login.
	for range attemptsMax + 1 {
		conn, err := net.DialTimeout("tcp", h.server.Address(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		refused := &rawConn{t: t, conn: conn}
		refused.expectError(wire.ErrorConnectionLimit)
		conn.Close()
	}
	holder.conn.Close()
	waitFor(t, "the holder's slot freed", func() bool {
		return h.server.Stats().ConnectionsOpen == 0
	})
	conn, err := net.DialTimeout("tcp", h.server.Address(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	next := &rawConn{t: t, conn: conn}
	if frame := next.next(); frame.Kind != wire.KindChallenge {
		t.Fatalf("a connection after %d refused for connection_limit got %s (%s), "+
			"want the challenge", attemptsMax+1, frame.Kind, wire.ErrorCode(frame.Status))
	}
}
