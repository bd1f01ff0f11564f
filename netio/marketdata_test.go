package netio_test

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// marketFeed hands the server's feed released entries the way a shard does.
type marketFeed struct {
	server    *netio.Server
	consumer  backend.Consumer
	sequences map[uint32]uint64
	op        uint64
}

// release hands one entry (one op) with count level updates of instrument.
func (f *marketFeed) release(instrument uint32, count int) {
	f.op++
	var buffer event.Buffer
	buffer.BeginOp(f.op)
	for range count {
		f.sequences[instrument]++
		buffer.AppendMarketData(&model.MarketDataUpdate{Sequence: f.sequences[instrument],
			Instrument: instrument, Kind: model.MarketDataLevel, Side: model.SideBuy,
			Price: 100 + f.sequences[instrument]%7, Quantity: model.U128(f.sequences[instrument]),
			Op: f.op})
	}
	f.consumer.Consume(&backend.Ready{FirstOp: f.op, LastOp: f.op, Events: &buffer})
}

func newMarketFeed(h *harness) *marketFeed {
	return &marketFeed{server: h.server, consumer: h.server.MarketData(),
		sequences: map[uint32]uint64{}}
}

// waitPublished waits until the publisher has handled every op released so far: it
// takes subscriptions and released updates in no set order, so a test that subscribes
// after releases waits for them first.
func (f *marketFeed) waitPublished(t *testing.T) {
	waitFor(t, "the releases published", func() bool {
		return f.server.MarketDataStats().HandledOp >= f.op
	})
}

func (r *rawConn) marketDataSubscribe(session uint64, instrument, channels uint32, fromOp uint64) {
	body := make([]byte, wire.MarketDataSubscribeSize)
	(&wire.MarketDataSubscribe{Instrument: instrument, Channels: channels, FromOp: fromOp}).Encode(body)
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindMarketDataSubscribe,
		Session: session}, body))
}

// nextUpdates reads frames until md_subscribed (returned), collecting the updates.
func (r *rawConn) untilSubscribed() ([]model.MarketDataUpdate, wire.Frame) {
	r.t.Helper()
	var updates []model.MarketDataUpdate
	for {
		frame := r.next()
		switch frame.Kind {
		case wire.KindMarketData:
			updates = append(updates, decodeUpdates(frame.Body)...)
		case wire.KindMarketDataSubscribed:
			return updates, frame
		default:
			r.t.Fatalf("unexpected %s frame", frame.Kind)
		}
	}
}

func decodeUpdates(body []byte) []model.MarketDataUpdate {
	updates := make([]model.MarketDataUpdate, len(body)/model.MarketDataUpdateSize)
	for i := range updates {
		updates[i].Decode(body[i*model.MarketDataUpdateSize:])
	}
	return updates
}

// nextUpdates reads md_update frames until it has count updates.
func (r *rawConn) nextUpdates(count int) []model.MarketDataUpdate {
	r.t.Helper()
	var updates []model.MarketDataUpdate
	for len(updates) < count {
		frame := r.next()
		if frame.Kind != wire.KindMarketData {
			r.t.Fatalf("unexpected %s frame (status %d)", frame.Kind, frame.Status)
		}
		updates = append(updates, decodeUpdates(frame.Body)...)
	}
	return updates
}

// TestMarketDataSubscribeFilterAndResume subscribes to one instrument and checks that
// only its updates arrive, in sequence; a second connection resuming from an op gets the
// retained updates from that op replayed before md_subscribed; once the bounded history
// has moved past an op, resuming from it answers market_data_resume_gap; a client
// without the read permission is refused, and unknown channel bits are invalid_body.
func TestMarketDataSubscribeFilterAndResume(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8}
	}})
	feed := newMarketFeed(h)
	live := dialRaw(t, h.server.Address())
	live.login(clientReader, 1, secretReader, 7)
	live.marketDataSubscribe(7, 5, wire.ChannelBook, 0)
	if _, answer := live.untilSubscribed(); answer.Status != 0 {
		t.Fatalf("subscribe: status %d", answer.Status)
	}
	feed.release(5, 2)
	feed.release(6, 3)
	feed.release(5, 1)
	updates := live.nextUpdates(3)
	for i, u := range updates {
		if u.Instrument != 5 || u.Sequence != uint64(i+1) {
			t.Fatalf("update %d: instrument %d sequence %d", i, u.Instrument, u.Sequence)
		}
	}
	if updates[2].Op != 3 {
		t.Fatalf("the third update carries op %d, want 3", updates[2].Op)
	}
	resumed := dialRaw(t, h.server.Address())
	resumed.login(clientAll, 1, secretOne, 8)
	resumed.marketDataSubscribe(8, 5, wire.ChannelBook, 3)
	replayed, answer := resumed.untilSubscribed()
	var subscribed wire.MarketDataSubscribed
	subscribed.Decode(answer.Body)
	if answer.Status != 0 || len(replayed) != 1 || replayed[0].Sequence != 3 ||
		subscribed.ReplayedThroughOp != 3 {
		t.Fatalf("resume from op 3: status %d, %d replayed, %+v", answer.Status, len(replayed),
			subscribed)
	}
	for range 4 {
		feed.release(6, 3) // Pushes instrument 5's updates out of the 8-update history.
	}
	// The publisher takes subscriptions and released updates in no set order: wait until
	// it has published these (else the late subscription may still find op 1 held).
	feed.waitPublished(t)
	late := dialRaw(t, h.server.Address())
	late.login(clientAll, 1, secretOne, 9)
	late.marketDataSubscribe(9, 5, wire.ChannelBook, 1)
	if _, answer := late.untilSubscribed(); model.Status(answer.Status) != model.StatusMarketDataResumeGap {
		t.Fatalf("resume from an evicted op: status %d", answer.Status)
	}
	late.marketDataSubscribe(9, 5, 1<<7, 0)
	if _, answer := late.untilSubscribed(); model.Status(answer.Status) != model.StatusInvalidBody {
		t.Fatalf("unknown channel: status %d", answer.Status)
	}
	trader := dialRaw(t, h.server.Address())
	trader.login(clientTrader, 1, secretTrader, 10)
	trader.marketDataSubscribe(10, 5, wire.ChannelBook, 0)
	if _, answer := trader.untilSubscribed(); answer.Status != 0 {
		// Every permission includes read (trade included): the subscription stands.
		t.Fatalf("trader subscribe: status %d", answer.Status)
	}
}

// TestMarketDataSlowSubscriberResnapshots fills a subscriber that does not read until
// the feed skips it, then reads: it gets md_stale (market_data_fell_behind, naming the
// first op it missed) and, after the last notice, live updates without a gap up to the
// newest.
func TestMarketDataSlowSubscriberResnapshots(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: 64 << 10}
		// The subscriber sends nothing while the 2000 entries are released and read:
		// 11-12 s under -race at a load average of 8 on 2 cores, past 15 s (the default
		// silence timeout, whose close the subscriber read as EOF) at 14.
		c.SilenceTimeout = 2 * waitLimit
	}})
	feed := newMarketFeed(h)
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 7)
	slow.marketDataSubscribe(7, 0, wire.ChannelBook, 0)
	slow.untilSubscribed()
	floodUntilStale(t, slow, feed, func(status uint32, body wire.MarketDataStale) {
		if model.Status(status) != model.StatusMarketDataFellBehind || body.DroppedFromOp == 0 {
			t.Fatalf("md_stale status %d body %+v", status, body)
		}
	})
	if h.server.MarketDataStats().StaleNotices == 0 {
		t.Fatal("no stale notice counted")
	}
}

// floodUntilStale releases 2,000 entries of 64 updates of instrument 5 on feed (16 MiB: far
// past the socket buffers) while slow, subscribed to it, reads nothing, then reads slow
// until an md_stale (checked by check) is followed by live updates up to the feed's last
// sequence, gap-free. It may fall behind again: each notice restarts the count, and one
// more update is released after it, as live updates resume after the notice.
func floodUntilStale(t *testing.T, slow *rawConn, feed *marketFeed,
	check func(status uint32, body wire.MarketDataStale)) {
	t.Helper()
	const entries, perEntry = 2000, 64
	for range entries {
		feed.release(5, perEntry)
	}
	stale := false
	var after []model.MarketDataUpdate
	for !stale || len(after) == 0 || after[len(after)-1].Sequence != feed.sequences[5] {
		frame := slow.next()
		switch {
		case frame.Kind == wire.KindMarketDataStale:
			var body wire.MarketDataStale
			body.Decode(frame.Body)
			check(frame.Status, body)
			stale, after = true, nil
			feed.release(5, 1)
		case frame.Kind == wire.KindMarketData && stale:
			after = append(after, decodeUpdates(frame.Body)...)
		}
	}
	for i := 1; i < len(after); i++ {
		if after[i].Sequence != after[i-1].Sequence+1 {
			t.Fatalf("after md_stale sequence %d follows %d: live updates have a gap",
				after[i].Sequence, after[i-1].Sequence)
		}
	}
}

// TestMarketDataResumeWithinTheSubscriberBound: a subscriber resuming from an op far
// back would get the whole retained history in one write (up to 32 MiB by default, on
// every resuming connection), past SubscriberBytesMax, the bound that keeps a
// subscriber's unsent bytes from growing without limit. A replay that does not fit the
// bound is answered market_data_resume_gap with nothing replayed (the client rebuilds
// from a snapshot); one that fits is replayed as before.
func TestMarketDataResumeWithinTheSubscriberBound(t *testing.T) {
	const bytesMax = 64 << 10
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: bytesMax, HistoryUpdatesMax: 4096}
	}})
	feed := newMarketFeed(h)
	const entries, perEntry = 100, 20 // 2,000 updates: 250 KiB.
	for range entries {
		feed.release(5, perEntry)
	}
	waitFor(t, "the feed to publish every entry", func() bool {
		return h.server.MarketDataStats().HandledOp == feed.op
	})
	far := dialRaw(t, h.server.Address())
	far.login(clientAll, 1, secretOne, 7)
	far.marketDataSubscribe(7, 5, wire.ChannelBook, 1)
	replayed, answer := far.untilSubscribed()
	if len(replayed)*model.MarketDataUpdateSize > bytesMax ||
		model.Status(answer.Status) != model.StatusMarketDataResumeGap {
		t.Fatalf("resume from op 1: %d updates replayed (%d bytes, bound %d), status %d; "+
			"want none and market_data_resume_gap", len(replayed),
			len(replayed)*model.MarketDataUpdateSize, bytesMax, answer.Status)
	}
	near := dialRaw(t, h.server.Address())
	near.login(clientAll, 1, secretOne, 8)
	near.marketDataSubscribe(8, 5, wire.ChannelBook, feed.op-1) // 2 entries: 40 updates.
	replayed, answer = near.untilSubscribed()
	if answer.Status != 0 || len(replayed) != 2*perEntry ||
		replayed[len(replayed)-1].Sequence != feed.sequences[5] {
		t.Fatalf("resume from op %d: status %d, %d replayed", feed.op-1, answer.Status,
			len(replayed))
	}
}

// TestMarketDataSubscriptionsPerConnectionAreBounded: every md_subscribe to a new
// instrument used to add an entry to the connection's subscription map, so one logged-in
// reader could grow the server's memory without limit (instrument ids need not exist). A
// connection holds at most MarketDataInstrumentsPerConnectionMax instruments (instrument
// 0 subscribes to all of them at once); past it md_subscribed answers session_limit and
// nothing changes; dropping one (channels 0) makes room, and one held may change its
// channels.
func TestMarketDataSubscriptionsPerConnectionAreBounded(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	feed := newMarketFeed(h)
	c := dialRaw(t, h.server.Address())
	c.login(clientReader, 1, secretReader, 7)
	subscribe := func(instrument, channels uint32, want model.Status) {
		t.Helper()
		c.marketDataSubscribe(7, instrument, channels, 0)
		if _, answer := c.untilSubscribed(); model.Status(answer.Status) != want {
			t.Fatalf("subscribe to instrument %d: status %d, want %s", instrument,
				answer.Status, want)
		}
	}
	const most = netio.MarketDataInstrumentsPerConnectionMax
	for instrument := uint32(1); instrument <= most; instrument++ {
		subscribe(instrument, wire.ChannelLevels, model.StatusOK)
	}
	subscribe(most+1, wire.ChannelLevels, model.StatusSessionLimit)
	subscribe(2, wire.ChannelBook, model.StatusOK) // Held: its channels may change.
	subscribe(1, 0, model.StatusOK)                // Dropped: room for one more.
	subscribe(most+1, wire.ChannelLevels, model.StatusOK)
	feed.release(most+1, 1)
	if updates := c.nextUpdates(1); updates[0].Instrument != most+1 {
		t.Fatalf("update of instrument %d, want %d", updates[0].Instrument, most+1)
	}
}

// TestSubscriptionFramesDrawOnTheRateLimit: subscribe and md_subscribe frames used to
// bypass the client's rate limit, so a client could repeat md_subscribe with a from_op
// (each a scan of the feed's retained history) as fast as it could send them. Every
// subscription frame now takes one request from the same budget as requests: past it
// md_subscribed and subscribed answer rate_limited (the status a rate-limited request
// gets; nothing changed, the connection stays), and requests find the budget spent. The
// clock stands still, so the budget (a second's worth: 2) never refills.
func TestSubscriptionFramesDrawOnTheRateLimit(t *testing.T) {
	file := testKeysFile()
	file.Clients[0].Limits.RequestsPerSecond = 2
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	frozen := time.Unix(1_000_000, 0)
	h := newHarness(t, harnessOptions{keys: keys, config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{Now: func() time.Time { return frozen }})
	}})
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	for i, want := range []model.Status{model.StatusOK, model.StatusOK, model.StatusRateLimited,
		model.StatusRateLimited} {
		c.marketDataSubscribe(7, 5, wire.ChannelBook, 1)
		if _, answer := c.untilSubscribed(); model.Status(answer.Status) != want {
			t.Fatalf("md_subscribe %d from op 1 with a budget of 2: %s, want %s", i+1,
				model.Status(answer.Status), want)
		}
	}
	c.write(requestFrame(7, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := c.next(); model.Status(reply.Status) != model.StatusRateLimited {
		t.Fatalf("a request after the subscriptions spent the budget: %s",
			model.Status(reply.Status))
	}
	reports := dialRaw(t, h.server.Address())
	reports.login(clientAll, 1, secretOne, 8)
	reports.subscribeReports(8, 0)
	if frame := reports.next(); frame.Kind != wire.KindSubscribed ||
		model.Status(frame.Status) != model.StatusRateLimited {
		t.Fatalf("subscribe with the budget spent: %s %s, want subscribed rate_limited",
			frame.Kind, model.Status(frame.Status))
	}
	other := dialRaw(t, h.server.Address())
	other.login(clientReader, 1, secretReader, 9) // No limits: its own budget.
	other.marketDataSubscribe(9, 5, wire.ChannelBook, 1)
	if _, answer := other.untilSubscribed(); answer.Status != 0 {
		t.Fatalf("another client's md_subscribe: %s", model.Status(answer.Status))
	}
	// Each refusal is counted where it is answered, before its frame is written
	// (sequent_network_rate_limited_replies_total): two md_subscribed, the reply, the
	// subscribed.
	if got := h.server.Stats().RateLimitedReplies; got != 4 {
		t.Fatalf("RateLimitedReplies %d, want 4 (md_subscribe ×2, request, subscribe)", got)
	}
}
