package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// resumeLive sends one md_subscribe with channels 3 and returns what came before the
// answer, the answer's status and its live_from_op (header aux).
func (r *rawConn) resumeLive(session uint64, instrument uint32, fromOp uint64) (
	[]model.MarketDataUpdate, model.Status, uint64) {
	r.t.Helper()
	r.marketDataSubscribe(session, instrument, wire.ChannelBook, fromOp)
	replayed, frame := r.untilSubscribed()
	return replayed, model.Status(frame.Status), frame.Aux
}

// TestMarketDataResumeFromOpsTheServerNeverHadIsAGap (conformance, PROTOCOL.md 8a,
// status 230 and step 8): a failover lost entries (asynchronous replication): the old
// primary published instrument 5's updates up to op 9, the client read them; the new
// primary's log ends at op 3 (it starts its feed at op 4) and gives ops 4 on, and
// instrument 5's sequences from 1 on, to other updates. A resumption from op 9, of the
// instrument or of every instrument, is answered market_data_resume_gap with
// live_from_op the server's next op, so the client rebuilds from a snapshot. Before the
// fix it was answered ok with that same live_from_op: the client took it as its from-op
// and its book skipped the new primary's updates as duplicates by sequence, keeping the
// lost levels (a silently wrong book). A resumption from the server's newest op + 1 (a
// live_from_op it gave, with nothing published since) stays exact.
func TestMarketDataResumeFromOpsTheServerNeverHadIsAGap(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8, StartOp: 4}
	}})
	feed := newMarketFeed(h)
	feed.op = 3        // The recovered log's last op.
	feed.release(5, 1) // Op 4: instrument 5, sequence 1, at the new primary.
	waitFor(t, "op 4 published", func() bool { return h.server.MarketDataStats().HandledOp >= 4 })
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	for _, instrument := range []uint32{5, 0} {
		replayed, status, liveFromOp := c.resumeLive(7, instrument, 9)
		if status != model.StatusMarketDataResumeGap || len(replayed) != 0 || liveFromOp != 5 {
			t.Fatalf("instrument %d from op 9 at a server whose log ends at op 4: status %d, "+
				"%d replayed, live_from_op %d; want market_data_resume_gap, none, 5",
				instrument, status, len(replayed), liveFromOp)
		}
	}
	// From op 5 (the newest op + 1): nothing of it was lost.
	if replayed, status, liveFromOp := c.resumeLive(7, 5, 5); status != model.StatusOK ||
		len(replayed) != 0 || liveFromOp != 5 {
		t.Fatalf("from op 5 at a server whose log ends at op 4: status %d, %d replayed, "+
			"live_from_op %d; want ok, none, 5", status, len(replayed), liveFromOp)
	}
	feed.release(5, 1) // Op 5: sent live, once.
	if updates := c.nextUpdates(1); len(updates) != 1 || updates[0].Op != 5 ||
		updates[0].Sequence != 2 {
		t.Fatalf("after the answers: %+v, want instrument 5's op 5 alone", updates)
	}
}

// TestMarketDataResumeAcrossALaggingPublisherStaysWhole (conformance, PROTOCOL.md 8a):
// a resumption from an op the server's log has released but its feed has not published
// yet (the publisher lags the log: updates queued, or entries without market data) is
// answered ok, with a live_from_op below the op asked, and the updates from
// live_from_op on follow live (the client skips those it read by sequence). A gap
// decided on the publisher's progress instead of the log's would answer 230 here and
// make every subscriber rebuild after a failover that lost nothing.
func TestMarketDataResumeAcrossALaggingPublisherStaysWhole(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8}
	}})
	feed := newMarketFeed(h)
	feed.release(5, 1) // Op 1.
	waitFor(t, "op 1 published", func() bool { return h.server.MarketDataStats().HandledOp >= 1 })
	// Ops 2 to 4 are released while the publisher is about to take the resumption: they
	// are in its queue, not published, when it answers.
	released := make(chan struct{})
	once := false
	netio.SetTestHookMarketDataOrder(t, func() {
		if !once {
			once = true
			for range 3 {
				feed.release(5, 1)
			}
			close(released)
		}
	})
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	replayed, status, liveFromOp := c.resumeLive(7, 5, 4)
	<-released
	if status != model.StatusOK || len(replayed) != 0 || liveFromOp != 2 {
		t.Fatalf("from op 4, released but queued from op 2: status %d, %d replayed, "+
			"live_from_op %d; want ok, none, 2", status, len(replayed), liveFromOp)
	}
	if updates := c.nextUpdates(3); len(updates) != 3 || updates[0].Op != 2 ||
		updates[2].Op != 4 || updates[2].Sequence != 4 {
		t.Fatalf("after the answer: %+v, want ops 2 to 4 live", updates)
	}
	// Entries without market data move the log on, not the publisher: a resumption from
	// the op after them (an older primary's live_from_op) is whole too.
	for range 4 {
		feed.release(6, 0) // Ops 5 to 8 carry no update.
	}
	if replayed, status, liveFromOp := c.resumeLive(7, 5, 9); status != model.StatusOK ||
		len(replayed) != 0 || liveFromOp != 5 {
		t.Fatalf("from op 9 after ops 5 to 8 without updates: status %d, %d replayed, "+
			"live_from_op %d; want ok, none, 5", status, len(replayed), liveFromOp)
	}
	// One past that is a loss again.
	if _, status, _ := c.resumeLive(7, 5, 10); status != model.StatusMarketDataResumeGap {
		t.Fatalf("from op 10 after op 8: status %d, want market_data_resume_gap", status)
	}
}
