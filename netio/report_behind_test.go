package netio_test

import (
	"context"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio/client"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
	"sequent/wal"
)

// TestResubscribeAheadOfTheServerGetsLiveReports (section 8: after the subscribed frame,
// live reports): a client can hold report sequences the server never gave: a failover
// lost them (async mode; or a sync primary that replayed reports of recovered entries
// its standby had not acknowledged, see shard's TestRecoveredReportsWaitForTheStandby),
// and the new primary numbers its next reports from its own last. The client
// resubscribes from its last handled + 1 (here 5: it handled 1..4 on the lost primary);
// this server has given it nothing yet. The subscription must still deliver the reports
// produced after it, each once and in order, and the subscribed frame must say (header
// aux, next_sequence 1) that they start at 1, below the 5 asked for. Before the fix the
// connection's "last sent" started at from-1 = 4, so the server's reports 1..4 were
// dropped without a sign (subscribed said oldest_sequence 1, nothing missing), and the
// first one the client saw was 5.
func TestResubscribeAheadOfTheServerGetsLiveReports(t *testing.T) {
	machineConfig := core.Config{RulesVersion: core.RulesVersionCurrent}
	s, err := shard.New(shard.Config{PulseInterval: time.Hour, CloseTimeout: time.Second,
		Logger: testLogger()}, core.New(machineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	server, _ := startShardServer(t, s)

	subscriber := dialRaw(t, server.Address())
	subscriber.login(clientAll, 1, secretOne, 2)
	subscriber.subscribeReports(2, 5)
	frame := subscriber.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("got %s status %d, want subscribed", frame.Kind, frame.Status)
	}
	var subscribed wire.Subscribed
	subscribed.Decode(frame.Body)
	next := frame.Aux

	trader := dialRaw(t, server.Address())
	trader.login(clientAll, 1, secretOne, 1)
	// Orders for an instrument that does not exist: each is refused with a report.
	for number := uint64(1); number <= 5; number++ {
		body := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: number, Account: 1, BaseAccountID: model.U128(1),
			QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
			Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(body)
		if reply := trader.roundTrip(number, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
			t.Fatalf("order %d: status %s", number, model.Status(reply.Status))
		}
	}
	// The fifth report is sent in any case, so these reads are bounded without a timer.
	for want := uint64(1); want <= 5; want++ {
		frame = subscriber.next()
		if frame.Kind != wire.KindReport || frame.Aux != want {
			t.Fatalf("subscribed from 5 (oldest_sequence %d, replayed_through %d, "+
				"next_sequence %d) to a server that had given the client no report: frame "+
				"%s sequence %d after 5 new reports, want report %d", subscribed.OldestSequence,
				subscribed.ReplayedThrough, next, frame.Kind, frame.Aux, want)
		}
	}
	if next != 1 {
		t.Fatalf("subscribed from 5 to a server at 1: next_sequence %d, want 1", next)
	}
}

// heldReplays is a fake shard whose replays wait, once entered (the connection is then
// subscribed), until the test releases them.
type heldReplays struct {
	*fakeshard.Backend
	entered chan struct{}
	release chan struct{}
}

func (b *heldReplays) ReplayReports(client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	b.entered <- struct{}{}
	<-b.release
	return b.Backend.ReplayReports(client, from, fn)
}

// TestResubscribeAheadKeepsTheReportsMadeDuringTheReplay: a client ahead of the server
// (as in TestResubscribeAheadOfTheServerGetsLiveReports) whose replay is slow: the
// server produces reports 1 and 2 after the subscription began and before the replay
// reads the store, so they are both held as live reports and below the next sequence
// the replay answers (3). They are new to the client (this server produced them, after
// the failover that lost the client's 1..4): they must be sent, and next_sequence must
// say 1. Reading "next" alone would drop them unseen, and before the fix the
// connection dropped every report up to 4.
func TestResubscribeAheadKeepsTheReportsMadeDuringTheReplay(t *testing.T) {
	var held *heldReplays
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		held = &heldReplays{Backend: fake, entered: make(chan struct{}, 1),
			release: make(chan struct{})}
		return held
	}})
	subscriber := dialRaw(t, h.server.Address())
	subscriber.login(clientAll, 1, secretOne, 2)
	subscriber.subscribeReports(2, 5)
	<-held.entered // Bounded: the subscribe was written; its replay starts.
	held.Report(clientAll, []byte{1})
	held.Report(clientAll, []byte{2})
	close(held.release)
	frame := subscriber.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Aux != 1 {
		t.Fatalf("got %s status %d next_sequence %d, want subscribed, next_sequence 1",
			frame.Kind, frame.Status, frame.Aux)
	}
	// Made once the replay is over: made during it, they would bring the server to the
	// 5 asked for (a reuse no server can detect).
	for range 3 {
		held.Report(clientAll, []byte{3})
	}
	// Report 5 is sent in any case, so these reads are bounded without a timer.
	for want := uint64(1); want <= 5; want++ {
		if frame = subscriber.next(); frame.Kind != wire.KindReport || frame.Aux != want {
			t.Fatalf("frame %s sequence %d, want report %d", frame.Kind, frame.Aux, want)
		}
	}
}

// TestClientTakesReusedReportSequences: the Go client's side of a failover that lost
// reports it had handled. It handled 1..3; the server then loses 2 and 3
// (fakeshard.LoseReportsAfter, as an asynchronous failover does), and the client
// reconnects and resumes from 4. The server answers next_sequence 2: the client must
// tell its application (Config.ReportsReused 2..3) and hand the new reports 2, 3, 4 to
// the handler, which its duplicate filter (sequence at or below the last handled)
// dropped before the fix.
func TestClientTakesReusedReportSequences(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	reused := make(chan [2]uint64, 4)
	p, got := subscribeThroughProxy(t, h, func(config *client.Config) {
		config.ReportsReused = func(first, last uint64) { reused <- [2]uint64{first, last} }
	}) // Report 1 taken.
	for _, want := range []uint64{2, 3} {
		h.backend.Report(clientAll, []byte{byte(want)})
		if sequence := receive(t, got, "report"); sequence != want {
			t.Fatalf("report %d, want %d", sequence, want)
		}
	}
	h.backend.LoseReportsAfter(clientAll, 1)
	p.cut() // The client reconnects and resumes from 4.
	// The new reports are made once the resumption was answered: made before, they
	// would bring the server to the client's 4 (a reuse no server can detect).
	if gap := receive(t, reused, "ReportsReused"); gap != [2]uint64{2, 3} {
		t.Fatalf("reused reports %v, want [2 3]", gap)
	}
	for want := uint64(2); want <= 4; want++ {
		h.backend.Report(clientAll, []byte{byte(want)})
	}
	// Report 4 reaches the handler in any case.
	for want := uint64(2); want <= 4; want++ {
		if sequence := receive(t, got, "report"); sequence != want {
			t.Fatalf("after the lossy failover: report %d, want %d", sequence, want)
		}
	}
}

// receive takes one value from values, failing after waitLimit.
func receive[T any](t *testing.T, values <-chan T, what string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	select {
	case value := <-values:
		return value
	case <-ctx.Done():
		t.Fatalf("%s never arrived", what)
		var zero T
		return zero
	}
}

// TestClientFirstSubscribeAheadOfTheServer: an application that kept its last handled
// report (4) across a restart subscribes from 5 to a primary that lost them (it is at 1).
// Subscribe returns NextSequence 1 for the caller to judge, and the handler is given the
// new reports from 1 on, not only those from 5 on.
func TestClientFirstSubscribeAheadOfTheServer(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c, err := client.Dial(background(t), client.Config{Addresses: []string{h.server.Address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := make(chan uint64, 8)
	subscribed, err := c.Subscribe(background(t), 5, func(r client.Report) { got <- r.Sequence })
	if err != nil {
		t.Fatal(err)
	}
	if subscribed.NextSequence != 1 {
		t.Fatalf("subscribed from 5 to a server at 1: %+v, want NextSequence 1", subscribed)
	}
	for range 5 {
		h.backend.Report(clientAll, []byte{1})
	}
	// Report 5 reaches the handler in any case.
	for want := uint64(1); want <= 5; want++ {
		if sequence := receive(t, got, "report"); sequence != want {
			t.Fatalf("report %d, want %d", sequence, want)
		}
	}
}
