package netio_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"sequent/netio"
	"sequent/netio/client"
)

// TestOverrunCoveredByHeldLiveReportsIsNotALoss: a Go client that handled report 1
// resumes from 2 after a cut; reports 2..600 are made once its connection is subscribed
// (the network layer holds them live while it replays), and after the replay's first
// batch (2..257) the client is given 4,400 more at once, so the ring overwrites 258..904
// before the replay reaches them. The store then answers its next (601) as the oldest
// (its overrun rule), but every one of them is among the live reports held for the
// connection: nothing is lost, the subscribed answer's oldest says so (it is lowered to
// the first held report), and the client calls no ReportsLost. Without the lowering the
// client was told 2..600 were lost while its handler got every report.
func TestOverrunCoveredByHeldLiveReportsIsNotALoss(t *testing.T) {
	server, replays := startPausedShardServer(t, func(call, batch int) bool {
		return call == 2 && batch <= 0 // The resumption: before it, after its first batch.
	})
	maker, p, r := subscribeReportsThroughProxy(t, server, replays)
	p.cut() // The client reconnects and resumes from 2.
	waitPaused(t, replays, 2, -1)
	maker.make(t, 599) // 2..600: made with the connection subscribed, held live.
	waitStored(t, replays.Shard, 600)
	replays.resume <- struct{}{}
	waitPaused(t, replays, 2, 0)
	maker.make(t, 4400) // 601..5000: the ring now holds 905..5000.
	waitStored(t, replays.Shard, 5000)
	replays.resume <- struct{}{}
	handled, lost := r.through(t, 5000)
	want := make([]uint64, 0, 5000)
	for sequence := uint64(1); sequence <= 5000; sequence++ {
		want = append(want, sequence)
	}
	if !slices.Equal(handled, want) {
		t.Fatalf("handled %d reports, want 1..5000 once each in order", len(handled))
	}
	if len(lost) != 0 {
		t.Fatalf("ReportsLost %v, though the handler got every report", lost)
	}
}

// TestResumptionOverrunReportsLostOnlyWhatTheHandlerMissed: a Go client that handled
// report 1 is cut off and cannot reconnect while reports 2..600 are made; it then
// resumes from 2. After the replay's first batch (2..257) the client is given 4,400
// reports at once (601..5000, held live for the connection): the ring overwrites
// 258..904 before the replay reaches them, so the replay ends and the answer's oldest is
// 601. The reports 258..600 are lost, and only those: ReportsLost(258, 600). Before
// (review of 0968f29), the client named the loss from the sequence it asked from,
// 2..600, although its handler had been given 2..257.
func TestResumptionOverrunReportsLostOnlyWhatTheHandlerMissed(t *testing.T) {
	server, replays := startPausedShardServer(t, func(call, batch int) bool {
		return call == 2 && batch == 0 // The resumption, after its first batch.
	})
	maker, p, r := subscribeReportsThroughProxy(t, server, replays)
	p.refusing.Store(true)
	p.cut()
	maker.make(t, 599) // 2..600, made while the client is disconnected.
	waitStored(t, replays.Shard, 600)
	p.refusing.Store(false) // The client reconnects and resumes from 2.
	waitPaused(t, replays, 2, 0)
	maker.make(t, 4400) // 601..5000: the ring now holds 905..5000.
	waitStored(t, replays.Shard, 5000)
	replays.resume <- struct{}{}
	handled, lost := r.through(t, 5000)
	want := []uint64{1}
	for sequence := uint64(2); sequence <= 257; sequence++ {
		want = append(want, sequence)
	}
	for sequence := uint64(601); sequence <= 5000; sequence++ {
		want = append(want, sequence)
	}
	if !slices.Equal(handled, want) {
		t.Fatalf("handled %d reports, want 1, 2..257, 601..5000 once each in order",
			len(handled))
	}
	if !slices.Equal(lost, [][2]uint64{{258, 600}}) {
		t.Fatalf("ReportsLost %v, want [[258 600]]", lost)
	}
}

// reportsSeen is what a Go client subscribed through a proxy was given: the sequences its
// handler got and the ReportsLost calls, in order.
type reportsSeen struct {
	mu      sync.Mutex
	handled []uint64
	lost    [][2]uint64
}

// subscribeReportsThroughProxy makes report 1, dials a Go client through a proxy of
// server, subscribes from 1 and waits until the handler got report 1.
func subscribeReportsThroughProxy(t *testing.T, server *netio.Server,
	replays *pausedReplays) (*reportMaker, *proxy, *reportsSeen) {
	t.Helper()
	maker := newReportMaker(t, server.Address())
	maker.make(t, 1)
	waitStored(t, replays.Shard, 1)
	p := newProxy(t, server.Address())
	r := &reportsSeen{}
	ctx := background(t)
	c, err := client.Dial(ctx, client.Config{Addresses: []string{p.address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger(),
		ReportsLost: func(first, last uint64) {
			r.mu.Lock()
			r.lost = append(r.lost, [2]uint64{first, last})
			r.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Subscribe(ctx, 1, func(report client.Report) {
		r.mu.Lock()
		r.handled = append(r.handled, report.Sequence)
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	r.through(t, 1)
	return maker, p, r
}

// through waits until the handler got report last and returns copies of what it got
// and of the ReportsLost calls.
func (r *reportsSeen) through(t *testing.T, last uint64) (handled []uint64, lost [][2]uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("report %d handled", last), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.handled) > 0 && r.handled[len(r.handled)-1] == last
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.handled), slices.Clone(r.lost)
}
