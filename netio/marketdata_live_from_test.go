package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataSubscribedCarriesLiveFromOp (conformance, PROTOCOL.md 8a): an accepted
// md_subscribed (status 0 or 230) carries in its header aux live_from_op, the first op
// whose updates the connection is sent live: every update of the subscription with that
// op or a higher one comes after the answer, none with a lower op does (those were
// replayed before it, or published before the subscription). A refused one carries 0.
// A client resumes from it when it read nothing after the answer: without it, a
// resumption answered on a quiet connection kept asking from the op it asked from
// before, long left the history (a spurious market_data_resume_gap at every reconnect).
func TestMarketDataSubscribedCarriesLiveFromOp(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8}
	}})
	feed := newMarketFeed(h)
	feed.release(5, 2) // Op 1.
	feed.waitPublished(t)
	live := dialRaw(t, h.server.Address())
	live.login(clientAll, 1, secretOne, 7)
	live.marketDataSubscribe(7, 5, wire.ChannelBook, 0)
	if _, answer := live.untilSubscribed(); answer.Status != 0 || answer.Aux != 2 {
		t.Fatalf("live subscription after op 1: status %d, live_from_op %d, want 0 and 2",
			answer.Status, answer.Aux)
	}
	feed.release(6, 3) // Op 2, another instrument.
	feed.release(5, 1) // Op 3.
	if updates := live.nextUpdates(1); len(updates) != 1 || updates[0].Op != 3 {
		t.Fatalf("live updates %+v, want instrument 5's op 3 alone", updates)
	}
	feed.waitPublished(t)
	resumed := dialRaw(t, h.server.Address())
	resumed.login(clientAll, 1, secretOne, 8)
	resumed.marketDataSubscribe(8, 5, wire.ChannelBook, 1)
	replayed, answer := resumed.untilSubscribed()
	if answer.Status != 0 || len(replayed) != 3 || answer.Aux != 4 {
		t.Fatalf("resumption from op 1 after op 3: status %d, %d replayed, live_from_op %d, "+
			"want 0, 3 and 4", answer.Status, len(replayed), answer.Aux)
	}
	resumed.marketDataSubscribe(8, 5, 1<<7, 0)
	if _, answer := resumed.untilSubscribed(); model.Status(answer.Status) !=
		model.StatusInvalidBody || answer.Aux != 0 {
		t.Fatalf("refused subscription: status %d, aux %d, want invalid_body and 0",
			answer.Status, answer.Aux)
	}
	for range 4 {
		feed.release(6, 3) // Ops 4 to 7 push op 1 out of the 8-update history.
	}
	feed.waitPublished(t)
	resumed.marketDataSubscribe(8, 5, wire.ChannelBook, 1)
	if _, answer := resumed.untilSubscribed(); model.Status(answer.Status) !=
		model.StatusMarketDataResumeGap || answer.Aux != 8 {
		t.Fatalf("resumption from an evicted op: status %d, live_from_op %d, want "+
			"market_data_resume_gap and 8", answer.Status, answer.Aux)
	}
	// Asked from the live_from_op an earlier answer gave, with nothing published since,
	// the same resumption is whole: the history holds every op from it on.
	resumed.marketDataSubscribe(8, 5, wire.ChannelBook, 8)
	if replayed, answer := resumed.untilSubscribed(); answer.Status != 0 ||
		len(replayed) != 0 || answer.Aux != 8 {
		t.Fatalf("resumption from live_from_op 8: status %d, %d replayed, live_from_op %d, "+
			"want 0, none and 8", answer.Status, len(replayed), answer.Aux)
	}
}
