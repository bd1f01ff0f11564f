package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestMarketDataResumptionKeepsEachShardsOps: on a node of several shards each shard's
// feed numbers its updates by its own log and writes on its own (PROTOCOL.md 18), so an
// update of shard 0 read after instrument 3's answer says nothing of instrument 3, on
// shard 1. Instrument 2 (shard 0) is answered live from op 41 and instrument 3 (shard 1)
// from op 6; updates of shard 0 up to op 50 and of shard 1 up to op 7 are read. The next
// connection resumes instrument 2 from 50 and instrument 3 from 7. Before the fix one op
// of the last update read, of any instrument, moved every answered instrument on:
// instrument 3 was asked from op 50, past shard 1's log (answered market_data_resume_gap,
// a needless snapshot), or, with shard 1's log further on, within it, skipping shard 1's
// updates below 50 that were still on their way.
func TestMarketDataResumptionKeepsEachShardsOps(t *testing.T) {
	s := newMarketDataSubscription(func(MarketDataEvent) {})
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
	subscribeOnShard := func(instrument uint32, shard uint16, liveFromOp uint64) {
		t.Helper()
		result := make(chan error, 1)
		go func() {
			_, err := c.SubscribeMarketData(context.Background(), instrument,
				wire.ChannelBook, nil)
			result <- err
		}()
		waitForMarketDataWaiters(c, s, instrument, 1)
		answer := marketDataSubscribedFrame(instrument, wire.ChannelBook, 0)
		answer.Aux, answer.Number = liveFromOp, uint64(shard)
		if err := c.handle(answer, 1); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("instrument %d: %v", instrument, err)
			}
		case <-time.After(waitLimit): // A bound on a wait of microseconds.
			t.Fatalf("instrument %d was never answered", instrument)
		}
	}
	subscribeOnShard(2, 0, 41)
	subscribeOnShard(3, 1, 6)
	read := func(updates ...model.MarketDataUpdate) {
		t.Helper()
		body := make([]byte, len(updates)*model.MarketDataUpdateSize)
		for i := range updates {
			updates[i].Encode(body[i*model.MarketDataUpdateSize:])
		}
		if err := c.handle(&wire.Frame{Kind: wire.KindMarketData, Body: body}, 1); err != nil {
			t.Fatal(err)
		}
	}
	read(model.MarketDataUpdate{Instrument: 3, Shard: 1, Sequence: 6, Op: 7})
	read(model.MarketDataUpdate{Instrument: 2, Sequence: 40, Op: 45},
		model.MarketDataUpdate{Instrument: 2, Sequence: 41, Op: 50})
	resumed := resumedMarketData(c)
	if resumed[2].FromOp != 50 || resumed[3].FromOp != 7 {
		t.Fatalf("the next connection resumes instrument 2 from op %d and 3 from op %d; "+
			"want 50 (shard 0's) and 7 (shard 1's)", resumed[2].FromOp, resumed[3].FromOp)
	}
}

// TestFollowedBookKeepsThroughAnotherShardsStale: md_stale names the shard whose feed
// dropped updates (PROTOCOL.md 8a); a book of an instrument of shard 1 lost nothing when
// shard 0's feed dropped updates for the same connection, and stays exact, while shard 1's
// md_stale has it rebuilt. Before, every md_stale restarted every followed book.
func TestFollowedBookKeepsThroughAnotherShardsStale(t *testing.T) {
	builder := &BookBuilder{Book: Book{Instrument: 3}, shard: 1}
	if builder.Snapshot(model.BookHeader{Instrument: 3, Sequence: 4, Op: 9}, nil) {
		t.Fatal("the snapshot was not taken")
	}
	changed := func(*BookBuilder, []model.MarketDataUpdate) {}
	stale := func(shard uint32) MarketDataEvent {
		return MarketDataEvent{Stale: &wire.MarketDataStale{Shard: shard, DroppedFromOp: 50}}
	}
	if builder.handle(stale(0), 3, changed) || !builder.Synced {
		t.Fatal("shard 0's md_stale restarted the book of an instrument of shard 1")
	}
	if !builder.handle(stale(1), 3, changed) || builder.Synced {
		t.Fatal("shard 1's md_stale left the book of its instrument as exact")
	}
}
