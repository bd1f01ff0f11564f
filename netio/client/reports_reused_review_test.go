package client

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"sequent/netio/wire"
)

// subscribedFrame is a successful subscribed frame: next_sequence in the header's aux,
// oldest_sequence in the body.
func subscribedFrame(next uint64, oldest uint64) *wire.Frame {
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: oldest}).Encode(body)
	return &wire.Frame{Kind: wire.KindSubscribed, Aux: next, Body: body}
}

// handledReport is what a test's handler was given: the sequence and the body (which
// connection the report came from).
type handledReport struct {
	sequence uint64
	from     string
}

// TestReportsOfAReplacedConnectionAreNotHandled: a failover while the report handler is
// busy. The reader of the old connection (to the primary that is failing) has decoded
// reports 4 and 5 in one read and runs the handler on 4; meanwhile the loss is noticed
// elsewhere (a call's write fails, or the silence timeout), and the reconnector installs
// the new connection, whose resumption asks from 5 (4 was the last handed over). The old
// reader then goes on with its buffer and hands report 5 of the old primary over; the
// new primary lost it (asynchronous replication) and answers next_sequence 5, not
// behind the 5 asked for, so the client sees no gap; its own report 5, a new one, is
// then dropped as a duplicate: the handler never sees it, and neither ReportsReused nor
// ReportsLost is called. The old connection's frames read after the resumption was built
// must not count: the resumption asked for everything after the last report handled by
// then, so the new connection brings whatever of it still exists. The readers' frames
// are handled here one after the other on the test's goroutine, in the order the two
// readers' goroutines can handle them (handle with each reader's generation).
func TestReportsOfAReplacedConnectionAreNotHandled(t *testing.T) {
	var handled []handledReport
	var gaps [][3]uint64
	s := &subscription{lastSeen: 4, established: true, askedFrom: 4,
		ready: make(chan Subscribed, 1), status: make(chan error, 1),
		handler: func(r Report) { handled = append(handled, handledReport{r.Sequence, string(r.Body)}) }}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	c.config.ReportsLost = func(first, last uint64) { gaps = append(gaps, [3]uint64{0, first, last}) }
	c.config.ReportsReused = func(first, last uint64) { gaps = append(gaps, [3]uint64{1, first, last}) }
	// The reconnector installs connection 2 (install: the generation, then the
	// resumption, under mu).
	c.mu.Lock()
	c.generation++
	s.frame(c.session)
	c.mu.Unlock()
	if s.askedFrom != 5 {
		t.Fatalf("the resumption asks from %d, want 5", s.askedFrom)
	}
	// Connection 1's reader, back from the handler, goes on with its buffer.
	if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: 5, Body: []byte("old")}, 1); err != nil {
		t.Fatal(err)
	}
	// Connection 2: the new primary is at 5 (it lost the old report 5), then makes its own 5.
	for _, frame := range []*wire.Frame{subscribedFrame(5, 1),
		{Kind: wire.KindReport, Aux: 5, Body: []byte("new")}} {
		if err := c.handle(frame, 2); err != nil {
			t.Fatal(err)
		}
	}
	if len(handled) != 1 || handled[0] != (handledReport{5, "new"}) {
		t.Fatalf("the handler was given %v (old: the old connection's), gap "+
			"callbacks %v: the new primary's report 5 never reached it, and nothing said so",
			handled, gaps)
	}
}

// TestLiveSubscriptionResumesWithAReplayAfterAReuse: a live subscription (Subscribe from
// 0) that handled reports 1..3 resumes from 4 after a failover that lost all three: the
// new primary answers next_sequence 1, and the client rightly restarts its duplicate
// filter at 0. A resumption asks for no replay while a live subscription has handled
// nothing (lastSeen 0), which the filter now says again: the next reconnect would ask
// from 0, and the new reports the primary makes meanwhile (1, 2, ... : all new to the
// client, from next_sequence on) would never be sent, with no sign of a gap (a live
// subscription is told no oldest_sequence). It must ask from 1.
func TestLiveSubscriptionResumesWithAReplayAfterAReuse(t *testing.T) {
	s := &subscription{live: true, lastSeen: 3, established: true, askedFrom: 4,
		ready: make(chan Subscribed, 1), status: make(chan error, 1),
		handler: func(Report) {}}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	if err := c.handle(subscribedFrame(1, 1), 1); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	frame := s.frame(c.session)
	c.mu.Unlock()
	var subscribe wire.Subscribe
	subscribe.Decode(frame[wire.HeaderSize:])
	if subscribe.FromSequence != 1 {
		t.Fatalf("after next_sequence 1 answered a live subscription's resumption from 4, "+
			"the next resumption asks from %d, want 1 (0 asks for no replay: the new "+
			"reports made while disconnected would be skipped unseen)", subscribe.FromSequence)
	}
}

// TestCloseInsideAGapCallbackReturns: ReportsReused and ReportsLost run on the
// connection's reader goroutine, "like the report handler", which may call Close; an
// application that finds handled reports undone (or reports gone) may well stop there.
// Close waits for every reader that is not running a handler, so the reader waited for
// Close and Close for the reader, for ever: a gap callback must count as a handler. Run
// in a synctest bubble: the hang guard fires at once, on the bubble's clock, when every
// goroutine is blocked.
func TestCloseInsideAGapCallbackReturns(t *testing.T) {
	for _, reused := range []bool{true, false} {
		name := map[bool]string{true: "ReportsReused", false: "ReportsLost"}[reused]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { closeInsideAGapCallback(t, reused) })
		})
	}
}

func closeInsideAGapCallback(t *testing.T, reused bool) {
	// Resumed from 4: next_sequence 2 (reports 2 and 3 were reused), or a server that
	// predates it holding reports from 9 on (4..8 lost).
	frame := subscribedFrame(2, 1)
	if !reused {
		frame = subscribedFrame(0, 9)
	}
	conn := &reportThenBlockConn{closed: make(chan struct{}),
		report: wire.AppendFrame(nil, frame, frame.Body)}
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: conn,
		generation: 1, silence: time.Minute, logoutSeen: make(chan struct{})}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	closed := make(chan error, 1)
	callback := func(first, last uint64) { closed <- c.Close() }
	c.config.ReportsReused, c.config.ReportsLost = callback, callback
	c.subscription = &subscription{lastSeen: 3, established: true, askedFrom: 4,
		ready: make(chan Subscribed, 1), status: make(chan error, 1),
		handler: func(Report) {}}
	c.mu.Lock()
	c.startReaderLocked(conn, &wire.Decoder{})
	c.mu.Unlock()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close inside the callback: %v", err)
		}
	case <-time.After(waitLimit): // The bubble's clock: at once if all are blocked.
		t.Fatal("Close called inside a gap callback hangs: it waits for the reader it runs on")
	}
}
