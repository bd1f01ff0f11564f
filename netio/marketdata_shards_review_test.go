package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestReviewOldClientResumeAcrossShardsMissesNothing (review reviewmd, session 40; it
// failed when every md_subscribe of a shard-1 instrument went to shard 1's feed). An
// independent client written from PROTOCOL.md as it was before market data covered every
// shard keeps one resume op per connection: "an update of any instrument may move it
// on" (8a step 8). Served shard 1's updates in shard 1's ops, such a client moved its op
// with shard 0's, and a resume of a shard-1 instrument was answered ok with an update
// skipped. Other shards' market data is now opt-in (md_subscribe channel bit 3): without
// the bit, an instrument of shard 1 is served as before, by shard 0's feed, so no update
// of it comes (as the old text said of other shards), answers are in shard 0's op space
// (header number 0), and the old client's one op stays true. Here the client follows
// instrument 3 (shard 1, whose log is at op 5) and instrument 2 (shard 0, at op 7); shard
// 1 releases op 6 of instrument 3 and shard 0 op 8 of instrument 2: only the latter
// comes. After a lost connection, instrument 3 is resumed from op 8 by the old rule:
// answered ok, number 0, oldest_op and live_from_op of shard 0's feed, nothing replayed.
func TestReviewOldClientResumeAcrossShardsMissesNothing(t *testing.T) {
	h, shard0, shard1 := shardedMarketDataAt(t, 7, 5, 1)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	fromOp := uint64(0) // The old client's one resume op.
	for _, instrument := range []uint32{3, 2} {
		c.marketDataSubscribe(7, instrument, wire.ChannelBook, 0)
		_, answer := c.untilSubscribed()
		if answer.Status != 0 || answer.Number != 0 || answer.Aux != 8 {
			t.Fatalf("subscribe to %d without bit 3: status %d shard %d live_from_op %d; "+
				"want ok, shard 0, shard 0's op 8", instrument, answer.Status, answer.Number,
				answer.Aux)
		}
		fromOp = max(fromOp, answer.Aux)
	}
	shard1.release(3, 1) // Shard 1's op 6.
	waitShardPublished(t, h, 1, shard1)
	shard0.release(2, 1) // Shard 0's op 8.
	waitShardPublished(t, h, 0, shard0)
	updates := c.nextUpdates(1)
	if len(updates) != 1 || updates[0].Instrument != 2 || updates[0].Op != 8 {
		t.Fatalf("updates read: %+v; want instrument 2's op 8 only", updates)
	}
	if stats := h.server.MarketDataShardStats(); stats[1].UpdatesSent != 0 ||
		stats[1].Subscribers != 0 {
		t.Fatalf("shard 1's feed served a client without bit 3: %+v", stats[1])
	}
	fromOp = max(fromOp, updates[0].Op) // The old rule: any update moves it on.
	_ = c.conn.Close()
	shard1.release(3, 1) // Shard 1's op 7.
	waitShardPublished(t, h, 1, shard1)

	again := dialRaw(t, h.server.Address())
	again.login(clientAll, 1, secretOne, 8)
	again.marketDataSubscribe(8, 3, wire.ChannelBook, fromOp)
	replayed, answer := again.untilSubscribed()
	var body wire.MarketDataSubscribed
	body.Decode(answer.Body)
	if answer.Status != 0 || answer.Number != 0 || answer.Aux != 9 || body.OldestOp != 1 ||
		body.Channels != wire.ChannelBook || len(replayed) != 0 {
		t.Fatalf("old client resumes instrument 3 from op %d: status %d shard %d "+
			"live_from_op %d %+v, %d replayed; want ok in shard 0's space (shard 0, "+
			"live_from_op 9, oldest 1), nothing replayed", fromOp, answer.Status,
			answer.Number, answer.Aux, body, len(replayed))
	}
	again.marketDataSubscribe(8, 3, wire.ChannelBook, 20) // Past shard 0's log (op 8).
	if _, answer := again.untilSubscribed(); model.Status(answer.Status) !=
		model.StatusMarketDataResumeGap || answer.Number != 0 {
		t.Fatalf("from op 20, past shard 0's log: status %d shard %d; want "+
			"market_data_resume_gap of shard 0", answer.Status, answer.Number)
	}
}

// TestMarketDataShardOpsServesTheInstrumentsShard: with channel bit 3 the same client
// follows instrument 3 on shard 1's feed: the answer names shard 1 and echoes the
// channels with the bit, updates come in shard 1's ops, and a resume from the op of the
// last update of shard 1 read, after shard 1 released one more while disconnected, is
// answered ok with that update replayed. Instrument 2 (shard 0) is served by shard 0's
// feed with or without the bit.
func TestMarketDataShardOpsServesTheInstrumentsShard(t *testing.T) {
	h, _, shard1 := shardedMarketDataAt(t, 7, 5, 1)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	const asked = wire.ChannelBook | wire.ChannelShardOps
	for _, instrument := range []uint32{3, 2} {
		c.marketDataSubscribe(7, instrument, asked, 0)
		_, answer := c.untilSubscribed()
		var body wire.MarketDataSubscribed
		body.Decode(answer.Body)
		want := map[uint32]uint64{3: 6, 2: 8}[instrument]
		if answer.Status != 0 || answer.Number != uint64(instrument%2) ||
			answer.Aux != want || body.Channels != asked {
			t.Fatalf("subscribe to %d with bit 3: status %d shard %d live_from_op %d %+v",
				instrument, answer.Status, answer.Number, answer.Aux, body)
		}
	}
	shard1.release(3, 1) // Shard 1's op 6.
	updates := c.nextUpdates(1)
	if updates[0].Instrument != 3 || updates[0].Shard != 1 || updates[0].Op != 6 {
		t.Fatalf("update %+v; want instrument 3, shard 1's op 6", updates[0])
	}
	lastSequence := updates[0].Sequence
	_ = c.conn.Close()
	shard1.release(3, 1) // Shard 1's op 7, not read.
	waitShardPublished(t, h, 1, shard1)

	again := dialRaw(t, h.server.Address())
	again.login(clientAll, 1, secretOne, 8)
	again.marketDataSubscribe(8, 3, asked, updates[0].Op)
	replayed, answer := again.untilSubscribed()
	if answer.Status != 0 || answer.Number != 1 || answer.Aux != 8 || len(replayed) != 2 ||
		replayed[1].Sequence != lastSequence+1 || replayed[1].Op != 7 {
		t.Fatalf("resume of instrument 3 from shard 1's op 6: status %d shard %d "+
			"live_from_op %d, replayed %+v; want ok, shard 1, 8, ops 6 and 7",
			answer.Status, answer.Number, answer.Aux, replayed)
	}
}

// TestMarketDataShardOpsMovesAnInstrumentBetweenFeeds: md_subscribes of one instrument
// of shard 1 without, then with, then without bit 3 move it from shard 0's feed to
// shard 1's and back: while on shard 0's it gets no update, while on shard 1's each
// update once, and it counts once against the per-connection bound whatever feed holds
// it. Channels 0 (with or without the bit) drop it wherever it is held.
func TestMarketDataShardOpsMovesAnInstrumentBetweenFeeds(t *testing.T) {
	h, shard0, shard1 := shardedMarketData(t)
	c := dialRaw(t, h.server.Address())
	c.login(clientReader, 1, secretReader, 7)
	subscribe := func(instrument, channels uint32, want model.Status) {
		t.Helper()
		c.marketDataSubscribe(7, instrument, channels, 0)
		if _, answer := c.untilSubscribed(); model.Status(answer.Status) != want {
			t.Fatalf("subscribe to instrument %d channels %d: status %d, want %s",
				instrument, channels, answer.Status, want)
		}
	}
	// sentOnShard1 releases one update of instrument 3 on shard 1 and returns how many
	// update records shard 1's feed sent for it (0 or 1), then checks with an update of
	// instrument 2 on shard 0 that nothing else came before.
	sentOnShard1 := func() uint64 {
		t.Helper()
		before := h.server.MarketDataShardStats()[1].UpdatesSent
		shard1.release(3, 1)
		waitShardPublished(t, h, 1, shard1)
		sent := h.server.MarketDataShardStats()[1].UpdatesSent - before
		shard0.release(2, 1)
		waitShardPublished(t, h, 0, shard0)
		updates := c.nextUpdates(int(sent) + 1)
		if len(updates) != int(sent)+1 || updates[len(updates)-1].Instrument != 2 {
			t.Fatalf("after shard 1's update (%d sent): %+v", sent, updates)
		}
		for _, u := range updates[:sent] {
			if u.Instrument != 3 || u.Op != shard1.op {
				t.Fatalf("update %+v; want instrument 3's op %d", u, shard1.op)
			}
		}
		return sent
	}
	const bit = wire.ChannelShardOps
	subscribe(2, wire.ChannelLevels, model.StatusOK)
	subscribe(3, wire.ChannelLevels, model.StatusOK) // Shard 0's feed.
	if sent := sentOnShard1(); sent != 0 {
		t.Fatalf("without bit 3: %d updates of instrument 3", sent)
	}
	subscribe(3, wire.ChannelLevels|bit, model.StatusOK) // Moves to shard 1's.
	if sent := sentOnShard1(); sent != 1 {
		t.Fatalf("with bit 3: %d updates of instrument 3, want 1", sent)
	}
	subscribe(3, wire.ChannelLevels, model.StatusOK) // Back to shard 0's.
	if sent := sentOnShard1(); sent != 0 {
		t.Fatalf("back without bit 3: %d updates of instrument 3", sent)
	}
	subscribe(3, wire.ChannelLevels|bit, model.StatusOK)
	subscribe(3, 0, model.StatusOK) // Dropped from shard 1's feed by a frame to shard 0's.
	if sent := sentOnShard1(); sent != 0 {
		t.Fatalf("unsubscribed without bit 3: %d updates of instrument 3", sent)
	}

	// The bound: 2 and 3 held, then the rest up to the bound, 3 moved both ways.
	subscribe(3, wire.ChannelLevels, model.StatusOK)
	const most = netio.MarketDataInstrumentsPerConnectionMax
	for instrument := uint32(4); instrument < most+2; instrument++ {
		subscribe(instrument, wire.ChannelLevels, model.StatusOK)
	}
	subscribe(3, wire.ChannelLevels|bit, model.StatusOK) // Held: may move.
	subscribe(3, wire.ChannelTrades, model.StatusOK)     // And back.
	subscribe(most+3, wire.ChannelLevels|bit, model.StatusSessionLimit)
	subscribe(3, bit, model.StatusOK) // Channels 0 with the bit: dropped.
	subscribe(most+3, wire.ChannelLevels|bit, model.StatusOK)
	subscribe(most+5, wire.ChannelLevels, model.StatusSessionLimit)
}
