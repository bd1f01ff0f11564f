package client

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"

	"sequent/netio/wire"
)

// TestFirstSubscribeAnsweredByAResumptionTellsOfAReuse (review s38, reviewclient; FAILS
// at main 78ccbcd): Subscribe from 1; connection 1 replays reports 1..9, which the
// handler is given, and is lost before its subscribed frame. Connection 2's resumption
// asks from 10 and reaches a new primary that lost 5..9 in a failover (next_sequence 5):
// the filter restarts at 4 and the handler is given new reports 5 and 6 under sequences
// it has handled. The answer is the subscription's first (not established), so neither
// ReportsReused is called nor the reuse logged (subscribedAnnounce reports gaps of
// established subscriptions only), and the caller, told to read NextSequence instead
// (Config.ReportsReused), compares 5 with the 1 it asked from and sees no reuse: the
// handler saw 5..9 twice, with different reports, and nobody was told. The same holds
// for a loss (ReportsLost is not called; the caller compares OldestSequence with what it
// asked, which over- or under-states what the handler missed).
//
// Method: the readers' frames are handled on the test's goroutine (handle, with each
// connection's generation); install is done by hand (a new generation, the resumption
// built from the subscription) between connection 1's replay and connection 2's answer.
func TestFirstSubscribeAnsweredByAResumptionTellsOfAReuse(t *testing.T) {
	var handled []uint64
	type gap struct{ first, last uint64 }
	var reused []gap
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1,
		config: Config{ReportsReused: func(first, last uint64) {
			reused = append(reused, gap{first, last})
		}}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // Hang bound.
	defer cancel()
	answered := make(chan Subscribed, 1)
	go func() {
		subscribed, err := c.Subscribe(ctx, 1, func(r Report) {
			handled = append(handled, r.Sequence)
		})
		if err != nil {
			t.Error(err)
		}
		answered <- subscribed
	}()
	for waiting := false; !waiting; runtime.Gosched() {
		c.mu.Lock()
		waiting = c.subscription != nil
		c.mu.Unlock()
	}
	handle := func(frame *wire.Frame, generation uint64) {
		if err := c.handle(frame, generation); err != nil {
			t.Fatal(err)
		}
	}
	for sequence := uint64(1); sequence <= 9; sequence++ { // Connection 1's replay.
		handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence}, 1)
	}
	c.mu.Lock()
	c.generation++ // install: connection 2, resuming from 10.
	c.subscription.frame(c.session)
	c.mu.Unlock()
	handle(subscribedFrame(5, 1), 2) // A new primary: next 5, below the 10 asked.
	handle(&wire.Frame{Kind: wire.KindReport, Aux: 5}, 2)
	handle(&wire.Frame{Kind: wire.KindReport, Aux: 6}, 2)
	var subscribed Subscribed
	select {
	case subscribed = <-answered:
	case <-ctx.Done():
		t.Fatal("Subscribe never returned")
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 6}; !slices.Equal(handled, want) {
		t.Fatalf("the handler was given %v, want %v", handled, want)
	}
	callerCanTell := subscribed.NextSequence != 0 && subscribed.NextSequence < 1
	if len(reused) == 0 && !callerCanTell {
		t.Fatalf("the handler was given 5 and 6 again as new reports (5..9 were lost in "+
			"a failover), but ReportsReused was not called and the caller's answer "+
			"(NextSequence %d, asked from 1) shows no reuse", subscribed.NextSequence)
	}
	if len(reused) > 0 && reused[0] != (gap{5, 9}) {
		t.Fatalf("ReportsReused(%d, %d), want (5, 9)", reused[0].first, reused[0].last)
	}
}

// TestReportsReusedComesBeforeTheNewReports (review s38, reviewclient; FAILS at main
// 78ccbcd): Config.ReportsReused promises that the handler is given the new reports
// numbered first..last "after this call", so that an application can drop what it
// built from the undone reports first and then take the new ones. subscribed applies a
// reuse (the filter back to next-1) in its locked block and calls ReportsReused after
// it, unchecked even if a reconnect came meanwhile (its comment: the callback tells of a
// move the resumption was built from). Then the next connection's reader, built from
// the moved filter, hands the new reports 5 and 6 to the handler before (in production,
// alongside) the replaced reader's ReportsReused(5, 9): an application that undoes 5..9
// when told drops the new 5 and 6 it was just given. ReportsLost has the same order
// promise ("before any live report") and the same path.
//
// Method: the readers' frames are handled on the test's goroutine (handle);
// testHookAnswerApplied, where connection 2's reader releases the mutex after applying
// the reuse, does what install does for connection 3 and has connection 3 replay 5 and 6
// (the new primary's next is now 7) and answer.
func TestReportsReusedComesBeforeTheNewReports(t *testing.T) {
	var events []string
	s := &subscription{lastSeen: 9, established: true, ready: make(chan Subscribed, 1),
		status:  make(chan error, 1),
		handler: func(r Report) { events = append(events, fmt.Sprintf("report %d", r.Sequence)) }}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 2, subscription: s,
		config: Config{ReportsReused: func(first, last uint64) {
			events = append(events, fmt.Sprintf("reused %d..%d", first, last))
		}}}
	c.mu.Lock()
	s.frame(c.session) // Connection 2's resumption, from 10.
	c.mu.Unlock()
	handle := func(frame *wire.Frame, generation uint64) {
		if err := c.handle(frame, generation); err != nil {
			t.Fatal(err)
		}
	}
	reconnected := false
	testHookAnswerApplied = func(wire.Kind) {
		if reconnected {
			return
		}
		reconnected = true
		c.mu.Lock()
		c.generation++ // install: connection 3, resuming from the moved filter (5).
		s.frame(c.session)
		c.mu.Unlock()
		handle(&wire.Frame{Kind: wire.KindReport, Aux: 5}, 3)
		handle(&wire.Frame{Kind: wire.KindReport, Aux: 6}, 3)
		handle(subscribedFrame(7, 1), 3)
	}
	t.Cleanup(func() { testHookAnswerApplied = nil })
	handle(subscribedFrame(5, 1), 2) // The new primary: next 5, below the 10 asked.
	want := []string{"reused 5..9", "report 5", "report 6"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q: the new reports 5 and 6 reached the handler before "+
			"ReportsReused told that 5..9 were undone", events, want)
	}
}
