package netio_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
	"sequent/wal"
)

// releaseLevel hands the feed one entry (the next op) holding one level update of
// instrument at price and quantity, numbered with the instrument's next sequence, and
// returns it.
func (f *marketFeed) releaseLevel(instrument uint32, price uint64, quantity uint64) model.MarketDataUpdate {
	f.op++
	f.sequences[instrument]++
	u := model.MarketDataUpdate{Sequence: f.sequences[instrument], Instrument: instrument,
		Kind: model.MarketDataLevel, Side: model.SideBuy, Price: price,
		Quantity: model.U128(quantity), OrderCount: 1, Op: f.op}
	var buffer event.Buffer
	buffer.BeginOp(f.op)
	buffer.AppendMarketData(&u)
	f.consumer.Consume(&backend.Ready{FirstOp: f.op, LastOp: f.op, Events: &buffer})
	return u
}

// TestHunt43ResumeFromTheOpOfAnUpdateTheNewPrimaryLostKeepsTheBookExact (PROTOCOL.md 8a,
// step 8 and "Resuming past the server's log"): step 8 tells a client to resume from
// the op of the last update it handled, and promises that the book stays exact "across
// a failover too, as long as the answer's status is 0"; the server is said to see a
// loss "while its log is behind n". Here an asynchronous failover lost exactly the last
// op the client read: the old primary published instrument 5's updates at ops 1 to 5,
// the client handled all of them; the new primary's log ends at op 4 (behind 5). The
// resumption from op 5 is answered ok (the server refuses only a from_op above its
// newest op + 1, taking 5 for a live_from_op it could have given), and the new
// primary's own op 5 gives instrument 5's sequence 5 to another level: the client
// skips it as a duplicate by sequence (step 5) and keeps the lost level. Its book then
// differs from the engine's with no sign at all. The server cannot tell this from_op
// from a live_from_op of 5 (nothing read at op 5) with the frame as it was: the fix is
// the opt-in channel bit 4, from_op_read (the client read an update at from_op), with
// which a server whose log ends before from_op answers market_data_resume_gap; step 8
// now tells a client to set it when its from_op is the op of an update read.
func TestHunt43ResumeFromTheOpOfAnUpdateTheNewPrimaryLostKeepsTheBookExact(t *testing.T) {
	const instrument = 5
	// The old primary: ops 1 to 5, each a level of instrument 5 (sequences 1 to 5).
	old := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 64}
	}})
	oldFeed := newMarketFeed(old)
	c := dialRaw(t, old.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	if _, status, _ := c.resumeLive(7, instrument, 0); status != model.StatusOK {
		t.Fatalf("live subscription at the old primary: status %d", status)
	}
	var published []model.MarketDataUpdate
	for op := range uint64(5) {
		published = append(published, oldFeed.releaseLevel(instrument, 100+op, 10+op))
	}
	// The client's book: the instrument was empty at sequence 0 (the snapshot it took
	// before any update), then every update it was sent, in order (step 5).
	book := client.Book{Instrument: instrument}
	for _, u := range c.nextUpdates(5) {
		if err := book.Apply(&u); err != nil {
			t.Fatalf("update %d at the old primary: %v", u.Sequence, err)
		}
	}
	lastHandledOp := book.Op // 5
	c.conn.Close()

	// The new primary (asynchronous standby): its log ends at op 4, so it holds the
	// first four updates and lost op 5.
	promoted := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 64, StartOp: 5}
	}})
	newFeed := newMarketFeed(promoted)
	newFeed.op, newFeed.sequences[instrument] = 4, 4
	engine := client.Book{Instrument: instrument} // The new primary's engine book.
	for i := range published[:4] {
		if err := engine.Apply(&published[i]); err != nil {
			t.Fatal(err)
		}
	}
	c = dialRaw(t, promoted.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	// Step 8, with channel bit 4 (from_op_read): from_op is the op of an update read.
	c.marketDataSubscribe(7, instrument, wire.ChannelBook|wire.ChannelFromOpRead,
		lastHandledOp)
	replayed, answer := c.untilSubscribed()
	status := model.Status(answer.Status)
	for i := range replayed {
		_ = book.Apply(&replayed[i])
	}
	// Its op 5: another level, numbered with the sequence the lost one had.
	next := newFeed.releaseLevel(instrument, 300, 77)
	if err := engine.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if status == model.StatusOK {
		for _, u := range c.nextUpdates(1) {
			if err := book.Apply(&u); err != nil {
				t.Fatalf("update %d at the new primary: %v", u.Sequence, err)
			}
		}
	}
	if status == model.StatusOK && !slices.Equal(book.Levels(model.SideBuy, 0),
		engine.Levels(model.SideBuy, 0)) {
		t.Fatalf("resumed from op %d (the op of the last update handled) at a primary whose "+
			"log ends at op 4: answered ok, and the book kept by step 5 is %+v at sequence %d "+
			"while the engine's is %+v: a failover lost op 5 without a sign (want "+
			"market_data_resume_gap)", lastHandledOp, book.Levels(model.SideBuy, 0),
			book.Sequence, engine.Levels(model.SideBuy, 0))
	}
	if status != model.StatusOK && status != model.StatusMarketDataResumeGap {
		t.Fatalf("status %d", status)
	}
}

// TestHunt43StandbyDoesNotClaimAPrimarysReportsWereLost (PROTOCOL.md 8, "After a
// failover that lost reports"): no failover happens here. The primary gives client 1
// reports 1 to 3, which it handles; its standby (asynchronous, or a moment behind in
// sync mode) has not applied them yet. The client's connection to the primary breaks
// and it reaches the other node, as a client with two addresses does (the Go client
// tries its Addresses in order), and resumes from 4. Before the fix the standby took
// the subscription and answered next_sequence 1: by section 8 "the reports 1..3 you
// handled were lost in a failover, and their sequences now number new reports ... Take
// them as new"; then it applied the primary's entries and sent reports 1 to 3 again,
// the very ones handled, which the client took as new (duplicates it cannot detect,
// and a false loss notice). Now a node that is not primary refuses such a resumption
// busy until it has caught up: asked again then, it is served from 4 (next_sequence
// 4), and the first report it sends is the primary's next one, 4.
func TestHunt43StandbyDoesNotClaimAPrimarysReportsWereLost(t *testing.T) {
	primaryServer, standby, shipped := primaryAndStandby(t)
	// Served as cmd/sequent serves a node: primary while its shard's role says so.
	standbyServer, _ := startShardServerWith(t, standby, netio.MarketDataConfig{
		Serving: func() bool { return standby.Role() == shard.RolePrimary }})

	subscriber := dialRaw(t, primaryServer.Address())
	subscriber.login(clientAll, 1, secretOne, 2)
	subscriber.subscribeReports(2, 1)
	if frame := subscriber.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("at the primary: %s status %d, want subscribed", frame.Kind, frame.Status)
	}
	trader := dialRaw(t, primaryServer.Address())
	trader.login(clientAll, 1, secretOne, 1)
	placeRefused := func(number uint64) {
		body := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: number, Account: 1, BaseAccountID: model.U128(1),
			QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
			Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(body)
		if reply := trader.roundTrip(number, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
			t.Fatalf("order %d: status %s", number, model.Status(reply.Status))
		}
	}
	handled := map[uint64][]byte{}
	for number := uint64(1); number <= 3; number++ {
		placeRefused(number) // An instrument that does not exist: a report each.
	}
	for len(handled) < 3 {
		frame := subscriber.next()
		if frame.Kind != wire.KindReport {
			t.Fatalf("at the primary: %s frame, want a report", frame.Kind)
		}
		handled[frame.Aux] = frame.Body
	}
	subscriber.conn.Close() // Its connection to the primary breaks: the other node next.

	resumed := dialRaw(t, standbyServer.Address())
	resumed.login(clientAll, 1, secretOne, 2)
	resumed.subscribeReports(2, 4)
	answer := resumed.next()
	if answer.Kind != wire.KindSubscribed {
		t.Fatalf("at the standby: %s frame, want subscribed", answer.Kind)
	}
	if answer.Status == 0 && answer.Aux < 4 {
		t.Fatalf("no failover happened, the primary still holds reports 1..3, yet the "+
			"standby answered the resumption from 4 with next_sequence %d (section 8: the "+
			"reports %d..3 you handled were lost in a failover, take the ones that follow "+
			"as new, and it sends them again once it applies its primary's entries)",
			answer.Aux, answer.Aux)
	}
	if answer.Status != uint32(model.StatusBusy) {
		t.Fatalf("at the standby, behind the client: status %d, want busy", answer.Status)
	}
	// The standby catches up with the primary's entries (its reports are released).
	shipToStandby(t, standby, shipped)
	waitFor(t, "the standby served the resumption from 4", func() bool {
		resumed.subscribeReports(2, 4)
		answer = resumed.next()
		return answer.Kind == wire.KindSubscribed && answer.Status == 0
	})
	if answer.Aux != 4 {
		t.Fatalf("at the standby, caught up: next_sequence %d, want 4", answer.Aux)
	}
	placeRefused(4)
	if frame := resumed.next(); frame.Kind != wire.KindReport || frame.Aux != 4 {
		t.Fatalf("after the resumption from 4: %s sequence %d, want report 4 (reports 1..3 "+
			"were handled at the primary)", frame.Kind, frame.Aux)
	}
}

// TestHunt43MarketDataSubscriberOfADeposedPrimaryIsTold (PROTOCOL.md 8a: "only the
// primary serves market data"): a connection subscribed to an instrument while its node
// was primary stays subscribed once the node stops being primary (fenced: a standby was
// promoted, or its witness lease ran out), and from then on is sent heartbeats only:
// no md_stale, no error, no close. The new primary publishes the instrument's updates;
// this client, which sends no request (a not_primary reply is how a trading client
// learns of the failover), keeps a book it believes current, with no sign that it is
// not. Here the node stops serving after op 1, and the test reads up to 30 heartbeats
// (50 ms apart) for anything telling the subscriber.
func TestHunt43MarketDataSubscriberOfADeposedPrimaryIsTold(t *testing.T) {
	var serving atomic.Bool
	serving.Store(true)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.HeartbeatInterval, c.SilenceTimeout = 50*time.Millisecond, time.Minute
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 64,
			Serving: serving.Load}
	}})
	feed := newMarketFeed(h)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	if _, status, _ := c.resumeLive(7, 5, 0); status != model.StatusOK {
		t.Fatalf("subscription at the primary: status %d", status)
	}
	feed.release(5, 1)
	if updates := c.nextUpdates(1); updates[0].Op != 1 {
		t.Fatalf("update %+v, want op 1", updates[0])
	}
	serving.Store(false) // Fenced: another node is primary and publishes from here on.
	// A fresh md_subscribe is refused not_primary now (the node knows it is deposed).
	other := dialRaw(t, h.server.Address())
	other.login(clientAll, 1, secretOne, 8)
	if _, status, _ := other.resumeLive(8, 5, 0); status != model.StatusNotPrimary {
		t.Fatalf("md_subscribe at the deposed node: status %d, want not_primary", status)
	}
	for heartbeats := 0; heartbeats < 30; heartbeats++ {
		frame, err := c.nextAny()
		if err != nil {
			t.Fatalf("the connection ended without the error frame shutting_down: %v", err)
		}
		if frame.Kind == wire.KindError {
			if code := wire.ErrorCode(frame.Status); code != wire.ErrorShuttingDown {
				t.Fatalf("error frame %d, want shutting_down (reconnect and resume)", code)
			}
			if _, err := c.nextAny(); err == nil {
				t.Fatal("the connection stayed open after its error frame")
			}
			return // Told, then closed: the client reconnects and finds the primary.
		}
		if frame.Kind != wire.KindHeartbeat {
			t.Fatalf("a %s frame from a node that is no longer primary, want the error "+
				"frame shutting_down", frame.Kind)
		}
		// The answer may fail once the server has closed after its error frame: that
		// frame is still read next (see shutDownWithinHeartbeats).
		_, _ = c.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
			Session: 7}, nil))
	}
	t.Fatalf("the node stopped being primary after op 1 (md_subscribe answers not_primary " +
		"there now), yet the connection subscribed before was sent 30 heartbeats and " +
		"nothing else: its book goes stale without a sign while the new primary trades")
}

// TestFromOpReadAtTheNodeThatPublishedItIsWhole (PROTOCOL.md 8a, channel bit 4): the
// bit only ever refuses a from_op its server's log does not hold. At the node that
// published them, a resumption from the op of the last update read (its newest op)
// with the bit is answered ok and replays from that op; from its newest op + 1 (a
// live_from_op with nothing read after it, where the bit would be wrong) it is a gap.
func TestFromOpReadAtTheNodeThatPublishedItIsWhole(t *testing.T) {
	const instrument = 5
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 64}
	}})
	feed := newMarketFeed(h)
	for op := range uint64(3) {
		feed.releaseLevel(instrument, 100+op, 10+op)
	}
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	c.marketDataSubscribe(7, instrument, wire.ChannelBook|wire.ChannelFromOpRead, 3)
	replayed, answer := c.untilSubscribed()
	if answer.Status != 0 || len(replayed) != 1 || replayed[0].Op != 3 {
		t.Fatalf("from op 3 read, the node's newest: status %d, replayed %+v; want ok "+
			"and the update of op 3", answer.Status, replayed)
	}
	other := dialRaw(t, h.server.Address())
	other.login(clientAll, 1, secretOne, 8)
	other.marketDataSubscribe(8, instrument, wire.ChannelBook|wire.ChannelFromOpRead, 4)
	if _, answer := other.untilSubscribed(); answer.Status !=
		uint32(model.StatusMarketDataResumeGap) {
		t.Fatalf("from op 4 read, past the node's newest op 3: status %d, want %d",
			answer.Status, model.StatusMarketDataResumeGap)
	}
}

// primaryAndStandby starts two shards of epoch 1 on logs in a temporary directory: a
// primary, served (its server returned), and a standby, not served (the test serves it
// as it needs). Every entry the primary stores is copied to shipped, which the standby
// applies once shipToStandby is called.
func primaryAndStandby(t *testing.T) (primaryServer *netio.Server, standby *shard.Shard,
	shipped chan []byte) {
	t.Helper()
	dir := t.TempDir()
	primaryLog, err := wal.Open(wal.Options{Dir: dir + "/primary"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primaryLog.Close() })
	standbyLog, err := wal.Open(wal.Options{Dir: dir + "/standby"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standbyLog.Close() })
	shipped = make(chan []byte, 1024)
	primaryLog.SetObserver(func(stored []byte, _ wal.EntryMeta) {
		shipped <- append([]byte(nil), stored...)
	})
	machineConfig := core.Config{RulesVersion: core.RulesVersionCurrent}
	primary, err := shard.New(shard.Config{Epoch: 1, PulseInterval: time.Hour,
		CloseTimeout: time.Second, Logger: testLogger()}, core.New(machineConfig), primaryLog)
	if err != nil {
		t.Fatal(err)
	}
	primaryServer, _ = startShardServer(t, primary)
	standby, err = shard.New(shard.Config{Epoch: 1, Role: shard.RoleStandby,
		PulseInterval: time.Hour, CloseTimeout: time.Second, Logger: testLogger()},
		core.New(machineConfig), standbyLog)
	if err != nil {
		t.Fatal(err)
	}
	return primaryServer, standby, shipped
}

// shipToStandby has the standby apply the primary's shipped entries, from a goroutine,
// until the test ends or an entry is refused.
func shipToStandby(t *testing.T, standby *shard.Shard, shipped <-chan []byte) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case stored := <-shipped:
				if standby.Replicate(stored) != nil {
					return
				}
			case <-stop:
				return
			}
		}
	}()
}
