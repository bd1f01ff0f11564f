package netio_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// shardedMarketDataAt is shardedMarketData with shard 0's log at op ops0 (one update of
// instrument 2 per entry) and shard 1's at op ops1 (perEntry1 updates of instrument 3 per
// entry), both published.
func shardedMarketDataAt(t *testing.T, ops0, ops1, perEntry1 int) (h *harness, shard0,
	shard1 *marketFeed) {
	h, shard0, shard1 = shardedMarketData(t)
	for range ops0 {
		shard0.release(2, 1)
	}
	for range ops1 {
		shard1.release(3, perEntry1)
	}
	waitShardPublished(t, h, 0, shard0)
	waitShardPublished(t, h, 1, shard1)
	return h, shard0, shard1
}

// shardedMarketData is a server with two market-data feeds, as a node of two shards has:
// odd instruments on shard 1, the rest on shard 0. Each feed is handed its own shard's
// releases, numbered by that shard's log (its own op space).
func shardedMarketData(t *testing.T) (h *harness, shard0, shard1 *marketFeed) {
	h = newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{
			Shards:          []netio.MarketDataShard{{StartOp: 1}, {StartOp: 1}},
			InstrumentShard: func(instrument uint32) uint16 { return uint16(instrument % 2) }}
	}})
	shard0 = &marketFeed{server: h.server, consumer: h.server.MarketDataOf(0),
		sequences: map[uint32]uint64{}}
	shard1 = &marketFeed{server: h.server, consumer: h.server.MarketDataOf(1),
		sequences: map[uint32]uint64{}}
	return h, shard0, shard1
}

// waitShardPublished waits until the feed of shard has handled every op it was handed.
func waitShardPublished(t *testing.T, h *harness, shard int, f *marketFeed) {
	t.Helper()
	waitFor(t, "the shard's releases published", func() bool {
		return h.server.MarketDataShardStats()[shard].HandledOp >= f.op
	})
}

// TestMarketDataOfEveryShard: on a node of several shards, market data used to follow
// shard 0's release only, so an instrument of shard 1 published nothing. Each shard now
// has its own feed, and an instrument's md_subscribe with channel bit 3 (the client keeps
// an op per shard) goes to its shard's: the updates
// come, tagged with their shard (record offset 22), and from_op, oldest_op,
// replayed_through_op, live_from_op and the past-the-log rule are positions in that
// shard's log, named by md_subscribed's header number. Here shard 0's log is at op 40 and
// shard 1's at op 5: resuming instrument 3 (shard 1) from op 3 replays shard 1's ops 3 to
// 5, from op 20 is past shard 1's log (230) though shard 0's has passed it, and
// instrument 2 (shard 0) from op 20 replays shard 0's updates.
func TestMarketDataOfEveryShard(t *testing.T) {
	h, shard0, shard1 := shardedMarketDataAt(t, 40, 5, 2)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)

	const shardOps = wire.ChannelShardOps // The client keeps an op per shard.
	c.marketDataSubscribe(7, 3, wire.ChannelBook|shardOps, 3)
	replayed, answer := c.untilSubscribed()
	var body wire.MarketDataSubscribed
	body.Decode(answer.Body)
	if answer.Status != 0 || answer.Number != 1 || answer.Aux != 6 || body.OldestOp != 1 ||
		body.ReplayedThroughOp != 5 || len(replayed) != 6 {
		t.Fatalf("instrument 3 (shard 1) from op 3: status %d, shard %d, live_from_op %d, "+
			"%+v, %d replayed; want 0, 1, 6, oldest 1, through 5, 6 replayed",
			answer.Status, answer.Number, answer.Aux, body, len(replayed))
	}
	for i, u := range replayed {
		if u.Instrument != 3 || u.Shard != 1 || u.Op != 3+uint64(i/2) ||
			u.Sequence != 5+uint64(i) {
			t.Fatalf("replayed update %d: %+v", i, u)
		}
	}

	c.marketDataSubscribe(7, 3, wire.ChannelBook|shardOps, 20)
	replayed, answer = c.untilSubscribed()
	if model.Status(answer.Status) != model.StatusMarketDataResumeGap || answer.Number != 1 ||
		answer.Aux != 6 || len(replayed) != 0 {
		t.Fatalf("instrument 3 from op 20, past shard 1's log (op 5): status %d, shard %d, "+
			"live_from_op %d, %d replayed; want market_data_resume_gap, 1, 6, none",
			answer.Status, answer.Number, answer.Aux, len(replayed))
	}

	c.marketDataSubscribe(7, 2, wire.ChannelBook|shardOps, 20)
	replayed, answer = c.untilSubscribed()
	if answer.Status != 0 || answer.Number != 0 || answer.Aux != 41 || len(replayed) != 21 ||
		replayed[0].Op != 20 || replayed[0].Shard != 0 {
		t.Fatalf("instrument 2 (shard 0) from op 20: status %d, shard %d, live_from_op %d, "+
			"%d replayed", answer.Status, answer.Number, answer.Aux, len(replayed))
	}

	shard1.release(3, 1)
	shard0.release(2, 1)
	got := map[uint32]model.MarketDataUpdate{}
	for len(got) < 2 {
		for _, u := range c.nextUpdates(1) {
			got[u.Instrument] = u
		}
	}
	if u := got[3]; u.Op != 6 || u.Shard != 1 || u.Sequence != 11 {
		t.Fatalf("live update of instrument 3: %+v, want op 6 of shard 1, sequence 11", u)
	}
	if u := got[2]; u.Op != 41 || u.Shard != 0 || u.Sequence != 41 {
		t.Fatalf("live update of instrument 2: %+v, want op 41 of shard 0, sequence 41", u)
	}
	// The feed counts an op handled once it has fanned the op's updates out (publish), so
	// the client may hold the update before the count moves: wait for it, bounded.
	stats := h.server.MarketDataShardStats()
	for deadline := time.Now().Add(time.Minute); len(stats) == 2 && stats[1].HandledOp < 6 &&
		time.Now().Before(deadline); stats = h.server.MarketDataShardStats() {
		time.Sleep(time.Millisecond)
	}
	if len(stats) != 2 || stats[0].Subscribers != 1 || stats[1].Subscribers != 1 ||
		stats[1].HandledOp < 6 {
		t.Fatalf("per-shard stats %+v", stats)
	}
}

// TestMarketDataInstrumentBoundCountsEveryShard: the bound of
// MarketDataInstrumentsPerConnectionMax instruments subscribed one by one is per
// connection, not per feed: with half of them on each shard's feed, one more is refused
// session_limit on either shard, and dropping one on shard 1 makes room on shard 0.
func TestMarketDataInstrumentBoundCountsEveryShard(t *testing.T) {
	h, shard0, _ := shardedMarketData(t)
	c := dialRaw(t, h.server.Address())
	c.login(clientReader, 1, secretReader, 7)
	subscribe := func(instrument, channels uint32, want model.Status) {
		t.Helper()
		c.marketDataSubscribe(7, instrument, channels|wire.ChannelShardOps, 0)
		if _, answer := c.untilSubscribed(); model.Status(answer.Status) != want ||
			answer.Number != uint64(instrument%2) {
			t.Fatalf("subscribe to instrument %d: status %d shard %d, want %s shard %d",
				instrument, answer.Status, answer.Number, want, instrument%2)
		}
	}
	const most = netio.MarketDataInstrumentsPerConnectionMax
	for instrument := uint32(1); instrument <= most; instrument++ {
		subscribe(instrument, wire.ChannelLevels, model.StatusOK)
	}
	subscribe(most+1, wire.ChannelLevels, model.StatusSessionLimit) // Shard 1.
	subscribe(most+2, wire.ChannelLevels, model.StatusSessionLimit) // Shard 0.
	subscribe(4, wire.ChannelBook, model.StatusOK)                  // Held: may change.
	subscribe(1, 0, model.StatusOK)                                 // Dropped on shard 1.
	subscribe(most+2, wire.ChannelLevels, model.StatusOK)           // Room on shard 0.
	subscribe(most+3, wire.ChannelLevels, model.StatusSessionLimit)
	shard0.release(most+2, 1)
	if updates := c.nextUpdates(1); updates[0].Instrument != most+2 {
		t.Fatalf("update of instrument %d, want %d", updates[0].Instrument, most+2)
	}
}

// TestMarketDataStaleNamesItsShard: a subscriber that a shard's feed skips as slow is
// told so with md_stale naming that shard (body offset 4) and a dropped_from_op in that
// shard's log; updates of it follow without a gap.
func TestMarketDataStaleNamesItsShard(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: 64 << 10,
			Shards:          []netio.MarketDataShard{{StartOp: 1}, {StartOp: 1000}},
			InstrumentShard: func(instrument uint32) uint16 { return uint16(instrument % 2) }}
		c.SilenceTimeout = 2 * waitLimit // As in TestMarketDataSlowSubscriberResnapshots.
	}})
	feed := &marketFeed{server: h.server, consumer: h.server.MarketDataOf(1),
		sequences: map[uint32]uint64{}, op: 999}
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 7)
	slow.marketDataSubscribe(7, 5, wire.ChannelBook|wire.ChannelShardOps, 0)
	if _, answer := slow.untilSubscribed(); answer.Status != 0 || answer.Number != 1 ||
		answer.Aux != 1000 {
		t.Fatalf("subscribe: status %d shard %d live_from_op %d", answer.Status,
			answer.Number, answer.Aux)
	}
	floodUntilStale(t, slow, feed, func(status uint32, body wire.MarketDataStale) {
		if model.Status(status) != model.StatusMarketDataFellBehind ||
			body.Shard != 1 || body.Instrument != 0 || body.DroppedFromOp < 1000 ||
			body.DroppedFromOp > feed.op {
			t.Fatalf("md_stale status %d body %+v; want shard 1, an op of its log",
				status, body)
		}
	})
	if stats := h.server.MarketDataShardStats(); stats[1].StaleNotices == 0 ||
		stats[0].StaleNotices != 0 {
		t.Fatalf("stale notices per shard: %+v", stats)
	}
}

// TestMarketDataGoClientResumesEachShardInItsOwnOps: the Go client follows instrument 2
// (shard 0, whose log is at op 45) and instrument 3 (shard 1, at op 6) on one connection;
// the connection is cut while shard 1 releases ops 7 and 8 and shard 0 op 46. After the
// reconnect each instrument is resumed from an op of its own shard's log: both answers
// are ok and the missed updates are replayed, so each instrument's sequence carries on
// without a gap. Before the client kept one op per shard, instrument 3 was asked from
// shard 0's op 45, past shard 1's log: market_data_resume_gap, a needless snapshot.
func TestMarketDataGoClientResumesEachShardsOwnOps(t *testing.T) {
	h, shard0, shard1 := shardedMarketDataAt(t, 40, 5, 2)
	p := newProxy(t, h.server.Address())
	ctx := background(t)
	c, err := client.Dial(ctx, client.Config{Addresses: []string{p.address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mutex sync.Mutex
	last := map[uint32]uint64{} // Newest sequence per instrument.
	var answers []client.MarketDataSubscribed
	handler := func(event client.MarketDataEvent) {
		mutex.Lock()
		defer mutex.Unlock()
		if event.Subscribed != nil {
			answers = append(answers, *event.Subscribed)
		}
		for _, u := range event.Updates {
			if u.Sequence > last[u.Instrument]+1 {
				t.Errorf("instrument %d: sequence %d after %d", u.Instrument, u.Sequence,
					last[u.Instrument])
			}
			last[u.Instrument] = max(last[u.Instrument], u.Sequence)
		}
	}
	for _, instrument := range []uint32{2, 3} {
		answer, err := c.SubscribeMarketData(ctx, instrument, wire.ChannelBook, handler)
		if err != nil || answer.Shard != uint16(instrument%2) {
			t.Fatalf("subscribe to %d: %+v %v", instrument, answer, err)
		}
	}
	// Live updates read, so each instrument's resume op moves past its answer's.
	mutex.Lock()
	last[3], last[2] = shard1.sequences[3], shard0.sequences[2] // Subscribed live.
	mutex.Unlock()
	shard1.release(3, 1)
	for range 5 {
		shard0.release(2, 1)
	}
	caughtUp := func() bool {
		mutex.Lock()
		defer mutex.Unlock()
		return last[3] == shard1.sequences[3] && last[2] == shard0.sequences[2]
	}
	waitFor(t, "the live updates", caughtUp)
	p.refusing.Store(true)
	p.cut()
	shard1.release(3, 1)
	shard1.release(3, 1)
	shard0.release(2, 1)
	waitShardPublished(t, h, 0, shard0)
	waitShardPublished(t, h, 1, shard1)
	p.refusing.Store(false)
	waitFor(t, "the resumptions answered", func() bool {
		mutex.Lock()
		defer mutex.Unlock()
		return len(answers) >= 4
	})
	mutex.Lock()
	resumptions := slices.Clone(answers[2:])
	mutex.Unlock()
	for _, answer := range resumptions {
		want := map[uint32]uint64{2: 45, 3: 6}[answer.Instrument]
		if answer.Status != model.StatusOK || answer.FromOp != want ||
			answer.Shard != uint16(answer.Instrument%2) {
			t.Fatalf("resumption of instrument %d: %+v; want ok from op %d of shard %d",
				answer.Instrument, answer, want, answer.Instrument%2)
		}
	}
	waitFor(t, "the missed updates replayed", caughtUp)
}
