package netio_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// stallAfterReplies passes a shard's outputs on to the server. Once armed, the next
// delivery of replies stalls the delivering sequencer right after handing them over,
// until resume is closed: the entry's replies are then on their way to the client while
// its execution reports are neither stored nor delivered yet (the shard's release
// stores and delivers them after the replies; PROTOCOL.md section 17 lets a report come
// after its reply).
type stallAfterReplies struct {
	backend.Replier
	armed   atomic.Bool
	stalled chan struct{}
	resume  chan struct{}
	once    sync.Once
}

func newStallAfterReplies(replier backend.Replier) *stallAfterReplies {
	return &stallAfterReplies{Replier: replier, stalled: make(chan struct{}, 1),
		resume: make(chan struct{})}
}

func (s *stallAfterReplies) Deliver(replies []backend.Reply) {
	s.Replier.Deliver(replies)
	if s.armed.CompareAndSwap(true, false) {
		s.stalled <- struct{}{}
		<-s.resume
	}
}

// release lets a stalled sequencer go on (at most once; a test's cleanup calls it too,
// so that a failed test does not leave the shard stalled when it is closed).
func (s *stallAfterReplies) release() { s.once.Do(func() { close(s.resume) }) }

// newStallServer serves backend on a random loopback port; start starts the backend's
// shards with the stalling replier it is given.
func newStallServer(t *testing.T, backendServed backend.Backend,
	start func(backend.Replier), closeBackend func()) (*netio.Server, *stallAfterReplies) {
	t.Helper()
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: testLogger()}, backendServed)
	if err != nil {
		t.Fatal(err)
	}
	stall := newStallAfterReplies(server.Replier())
	start(stall)
	if err := server.Start(); err != nil {
		closeBackend()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		closeBackend()
	})
	t.Cleanup(stall.release) // Runs first: the shard must not stay stalled while closing.
	return server, stall
}

// refusedOrder is an order for an instrument no one created: the shard refuses it, and
// the refusal is the client's next report on the instrument's shard, whose client order
// id is number.
func refusedOrder(number uint64, instrument uint32, base uint64) []byte {
	body := make([]byte, model.OrderSize)
	(&model.Order{ClientOrderID: number, Account: 1, BaseAccountID: model.U128(base),
		QuoteAccountID: model.U128(base + 1), Price: 1, Quantity: 1, Instrument: instrument,
		Side: model.SideBuy, Type: model.OrderLimit,
		TimeInForce: model.GoodTillCancel}).Encode(body)
	return body
}

// TestReportStoredAfterItsReplyIsStillSent (section 8: "Every report from
// oldest_sequence on is sent (replayed before subscribed or live after it)"; section 17:
// "A report may come before or after the reply to the request that caused it"): a
// client handled report 1, has the reply to its second order, and resumes its
// subscription from 2 on a new connection while the shard has not yet stored that
// order's report (its sequencer stalled between handing over the replies and storing the
// reports). The replay cannot hold report 2, but the subscription is in place before the
// replay reads the store, and the store has it before it is delivered, so report 2 must
// follow live after subscribed, once, with next_sequence saying where the live reports
// start, and report 3 after it. Run on a bare shard, on a node of one shard (`serve`)
// and on shard 1 of a node of two shards (the report stream of `serve --shards 2` for
// an instrument placed on shard 1), where cmd/sequent's TestReportsOfEveryShardOfANode
// resumes the same way and asserted that the report was replayed: true only when the
// store was quicker than the client, so it failed now and then under load.
func TestReportStoredAfterItsReplyIsStillSent(t *testing.T) {
	t.Run("bare shard", func(t *testing.T) {
		// The sequencer's own goroutine releases, as under load. A turn run inline by the
		// trader's event loop (an idle shard) hands the reply to that same loop, which
		// writes it only after the turn, its reports stored: the stall would hold the
		// loop that is to write the reply.
		s, err := shard.New(shard.Config{PulseInterval: time.Hour, CloseTimeout: time.Second,
			Logger: testLogger(), InlineTurnsOff: true},
			core.New(core.Config{RulesVersion: core.RulesVersionCurrent}), wal.NewMemoryLog())
		if err != nil {
			t.Fatal(err)
		}
		server, stall := newStallServer(t, s,
			func(replier backend.Replier) { s.Start(shard.RepliesOnly(replier)) },
			func() { _ = s.Close() })
		resumeDuringStall(t, server.Address(), stall, 0,
			func(number uint64) []byte { return refusedOrder(number, 77, 1) })
	})
	t.Run("node of one shard", func(t *testing.T) {
		server, stall := startStallNode(t, shardmap.Single())
		resumeDuringStall(t, server.Address(), stall, 0,
			func(number uint64) []byte { return refusedOrder(number, 77, 1) })
	})
	t.Run("shard 1 of two", func(t *testing.T) {
		placement := shardmap.ByRange(model.U128(0), model.U128(1000))
		placement.Instruments = []shardmap.InstrumentEntry{{Instrument: 2, Shard: 1}}
		server, stall := startStallNode(t, placement)
		// Instrument 2 and accounts from 1000 on are shard 1's; field 2 names shard 1.
		resumeDuringStall(t, server.Address(), stall, 2,
			func(number uint64) []byte { return refusedOrder(number, 2, 1001) })
	})
}

// startStallNode serves a node of in-memory shards placed by placement, its replies
// passed through a stallAfterReplies. Inline turns are off, as for the bare shard.
func startStallNode(t *testing.T, placement *shardmap.Map) (*netio.Server,
	*stallAfterReplies) {
	t.Helper()
	if err := placement.Validate(); err != nil {
		t.Fatal(err)
	}
	parts := make([]node.Part, placement.Shards)
	for i := range parts {
		parts[i] = node.Part{Log: wal.NewMemoryLog(), Machine: core.New(core.Config{
			Shard: core.ShardConfig{Map: placement, Index: uint16(i)}})}
	}
	local, err := node.NewLocal(placement, shard.Config{CloseTimeout: time.Second,
		Logger: testLogger(), InlineTurnsOff: true}, parts)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Map: placement}, local)
	if err != nil {
		t.Fatal(err)
	}
	return newStallServer(t, n, n.Start, func() { _ = n.Close() })
}

// resumeDuringStall runs TestReportStoredAfterItsReplyIsStillSent against a server:
// shardField is the subscribe frame's shard field (its frames' label), order(n) the
// body of an order whose refusal is the client's report n on that shard.
func resumeDuringStall(t *testing.T, address string, stall *stallAfterReplies,
	shardField uint64, order func(number uint64) []byte) {
	trader := dialRaw(t, address)
	trader.login(clientAll, 1, secretOne, 1)
	placed := func(number uint64) {
		t.Helper()
		if reply := trader.roundTrip(number, model.OperationPlaceOrders, 0,
			order(number)); reply.Status != 0 {
			t.Fatalf("order %d: status %s", number, model.Status(reply.Status))
		}
	}
	expectReport := func(r *rawConn, sequence uint64) {
		t.Helper()
		frame := r.next()
		var report model.ExecutionReport
		if frame.Kind == wire.KindReport && len(frame.Body) == model.ExecutionReportSize {
			report.Decode(frame.Body)
		}
		if frame.Kind != wire.KindReport || frame.Number != shardField ||
			frame.Aux != sequence || report.ClientOrderID != sequence {
			t.Fatalf("got %s number %d aux %d (client order id %d), want report %d "+
				"labelled %d", frame.Kind, frame.Number, frame.Aux, report.ClientOrderID,
				sequence, shardField)
		}
	}

	first := dialRaw(t, address)
	first.login(clientAll, 1, secretOne, 2)
	first.write(subscribeFrame(2, 0, shardField))
	if frame := first.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 ||
		frame.Aux != 1 {
		t.Fatalf("live subscription: %s status %d next %d, want subscribed next 1",
			frame.Kind, frame.Status, frame.Aux)
	}
	placed(1)
	expectReport(first, 1) // Handled: the client resumes from 2.

	stall.armed.Store(true)
	placed(2) // Its reply is here; its report is not stored while the shard stalls.
	select {
	case <-stall.stalled:
	case <-time.After(waitLimit):
		t.Fatal("the shard never delivered the second order's reply through the stall")
	}
	resumed := dialRaw(t, address)
	resumed.login(clientAll, 1, secretOne, 3)
	resumed.write(subscribeFrame(3, 2, shardField))
	var replayed []uint64
	frame := resumed.next()
	for ; frame.Kind == wire.KindReport; frame = resumed.next() {
		replayed = append(replayed, frame.Aux)
	}
	var subscribed wire.Subscribed
	if frame.Kind == wire.KindSubscribed && len(frame.Body) == wire.SubscribedSize {
		subscribed.Decode(frame.Body)
	}
	stall.release()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Number != shardField {
		t.Fatalf("resumed from 2: %s status %d number %d after reports %v, want subscribed",
			frame.Kind, frame.Status, frame.Number, replayed)
	}
	// next_sequence: the reports after subscribed start right after the last replayed
	// (after 1, the last the client handled, when none was).
	liveFrom := max(subscribed.ReplayedThrough, 1) + 1
	replayedRight := (subscribed.ReplayedThrough == 0 && len(replayed) == 0) ||
		(subscribed.ReplayedThrough == 2 && slices.Equal(replayed, []uint64{2}))
	if subscribed.OldestSequence > 2 || frame.Aux != liveFrom || !replayedRight {
		t.Fatalf("resumed from 2 while report 2 was not stored: replayed %v, subscribed "+
			"oldest_sequence %d replayed_through %d next_sequence %d; want oldest at most 2 "+
			"(report 2 is sent), next_sequence %d", replayed, subscribed.OldestSequence,
			subscribed.ReplayedThrough, frame.Aux, liveFrom)
	}
	for sequence := liveFrom; sequence <= 2; sequence++ {
		expectReport(resumed, sequence) // Stored once the shard went on: sent live.
	}
	placed(3)
	expectReport(resumed, 3) // Next: report 2 was not sent twice.
}
