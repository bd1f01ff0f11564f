package netio_test

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// Review of 0968f29 (session 38): the shard's report store releases its lock between
// the batches of a replay, so the sequencer adds (and delivers live) reports while the
// network layer is replaying. These tests run a real shard behind the server and stop a
// replay between its batches to make reports meanwhile.

// pausedReplays serves a real shard and, at the points stopAt names, stops a replay and
// hands control to the test goroutine (paused), which answers on resume. Batch -1 is
// before the shard is asked; batch b ≥ 0 is after the network layer's callback for the
// replay's batch b returned (the store's lock is not held then). Live subscriptions'
// next-sequence reads (from above any report) pass straight through.
type pausedReplays struct {
	*shard.Shard
	stopAt func(call int, batch int) bool
	paused chan [2]int
	resume chan struct{}
	done   chan struct{} // Closed when the test ends: no replay stays stopped.
	calls  atomic.Int64
}

func (p *pausedReplays) ReplayReports(client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	if from == math.MaxUint64 {
		return p.Shard.ReplayReports(client, from, fn)
	}
	call := int(p.calls.Add(1))
	p.pause(call, -1)
	batch := 0
	return p.Shard.ReplayReports(client, from, func(reports []backend.Report) {
		fn(reports)
		p.pause(call, batch)
		batch++
	})
}

func (p *pausedReplays) pause(call int, batch int) {
	if !p.stopAt(call, batch) {
		return
	}
	select {
	case p.paused <- [2]int{call, batch}:
	case <-p.done:
		return
	}
	select {
	case <-p.resume:
	case <-p.done:
	}
}

// startPausedShardServer serves a new shard (empty machine, its log in a temporary
// directory) through pausedReplays on a random loopback port.
func startPausedShardServer(t *testing.T, stopAt func(call, batch int) bool) (
	*netio.Server, *pausedReplays) {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := shard.New(shard.Config{PulseInterval: time.Hour, CloseTimeout: time.Second,
		Logger: testLogger()}, core.New(core.Config{RulesVersion: core.RulesVersionCurrent}),
		log)
	if err != nil {
		t.Fatal(err)
	}
	replays := &pausedReplays{Shard: s, stopAt: stopAt, paused: make(chan [2]int),
		resume: make(chan struct{}), done: make(chan struct{})}
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: testLogger()}, replays)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server))
	if err := server.Start(); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("shard close: %v", err)
		}
		log.Close()
	})
	// Runs first (cleanups run last registered first): a test that failed while a replay
	// was stopped lets it go on, so that the shutdown above does not wait for it.
	t.Cleanup(func() { close(replays.done) })
	return server, replays
}

// reportMaker places orders for an instrument that does not exist on its own raw
// connection: each is refused, and the refusal is the client's next report, whose
// client order id is its sequence (orders are numbered from 1 across calls).
type reportMaker struct {
	conn   *rawConn
	orders uint64
	number uint64
}

func newReportMaker(t *testing.T, address string) *reportMaker {
	conn := dialRaw(t, address)
	conn.login(clientAll, 1, secretOne, 1)
	return &reportMaker{conn: conn}
}

// make places count orders in one request: one entry, count reports.
func (m *reportMaker) make(t *testing.T, count int) {
	t.Helper()
	body := make([]byte, 0, count*model.OrderSize)
	for range count {
		m.orders++
		record := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: m.orders, Account: 1, BaseAccountID: model.U128(1),
			QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
			Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(record)
		body = append(body, record...)
	}
	m.number++
	if reply := m.conn.roundTrip(m.number, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
		t.Fatalf("orders: status %s", model.Status(reply.Status))
	}
}

// waitStored waits until the shard's report store holds the client's reports up to
// last: the reply is sent before the entry's reports are added (Shard.answer).
func waitStored(t *testing.T, s *shard.Shard, last uint64) {
	t.Helper()
	waitFor(t, "the reports in the store", func() bool {
		_, next := s.ReplayReports(clientAll, math.MaxUint64, func([]backend.Report) {})
		return next > last
	})
}

// waitPaused waits for the replay to stop at (call, batch).
func waitPaused(t *testing.T, replays *pausedReplays, call, batch int) {
	t.Helper()
	select {
	case at := <-replays.paused:
		if at != [2]int{call, batch} {
			t.Fatalf("replay paused at call %d batch %d, want %d, %d", at[0], at[1], call,
				batch)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the replay never reached call %d batch %d", call, batch)
	}
}

// TestReplayWithReportsMadeBetweenBatches (section 8: retained reports from n, then
// subscribed, then live; none twice, in order): 300 reports are retained when a
// connection subscribes from 1; after the replay's first batch (256) 100 more are made,
// which the store adds (the replay's later batch includes them) and the sequencer
// delivers live (the network layer holds them while it replays). The replay ends at the
// newest report of its first read (300): the connection gets 1..300 once each, in order,
// each with its own body, then subscribed (oldest 1, replayed_through 300, next_sequence
// 301), then the held 301..400 and report 401 live (0968f29 chased them: 1..400 replayed,
// unbounded while reports keep coming, TestReplayWorkIsBounded). Passes at 0968f29;
// at 23123d5 (the store's lock held across every batch) it fails after a minute: the
// sequencer waits for the lock to add the 100 reports, and the orders' reply never
// comes (checked).
func TestReplayWithReportsMadeBetweenBatches(t *testing.T) {
	server, replays := startPausedShardServer(t, func(call, batch int) bool {
		return call == 1 && batch == 0
	})
	maker := newReportMaker(t, server.Address())
	maker.make(t, 300)
	waitStored(t, replays.Shard, 300)
	subscriber := dialRaw(t, server.Address())
	subscriber.login(clientAll, 1, secretOne, 2)
	subscriber.subscribeReports(2, 1)
	waitPaused(t, replays, 1, 0)
	maker.make(t, 100)
	waitStored(t, replays.Shard, 400)
	replays.resume <- struct{}{}
	expectReports := func(first, last uint64) {
		t.Helper()
		for sequence := first; sequence <= last; sequence++ {
			frame := subscriber.next()
			if frame.Kind != wire.KindReport || frame.Aux != sequence {
				t.Fatalf("frame %s aux %d, want report %d", frame.Kind, frame.Aux, sequence)
			}
			var report model.ExecutionReport
			report.Decode(frame.Body)
			if report.ClientOrderID != sequence {
				t.Fatalf("report %d carries the body of order %d", sequence,
					report.ClientOrderID)
			}
		}
	}
	expectReports(1, 300)
	frame := subscriber.next()
	var subscribed wire.Subscribed
	subscribed.Decode(frame.Body)
	if frame.Kind != wire.KindSubscribed || subscribed.OldestSequence != 1 ||
		subscribed.ReplayedThrough != 300 || frame.Aux != 301 {
		t.Fatalf("%s: oldest %d, replayed through %d, next %d; want subscribed 1, 300, 301",
			frame.Kind, subscribed.OldestSequence, subscribed.ReplayedThrough, frame.Aux)
	}
	expectReports(301, 400)
	maker.make(t, 1)
	if frame := subscriber.next(); frame.Kind != wire.KindReport || frame.Aux != 401 {
		t.Fatalf("after subscribed: frame %s aux %d, want report 401", frame.Kind, frame.Aux)
	}
}
