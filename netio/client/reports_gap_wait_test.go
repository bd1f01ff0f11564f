package client

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"sequent/netio/wire"
)

// TestNewerReaderWaitsForTheGapCallback: connection 2's reader applies a reuse (5..9)
// and runs ReportsReused; meanwhile connection 3 is installed and its reader reads the
// new report 5. It must not hand that report over before the callback has returned
// (Config.ReportsReused: the new reports come after the call), so it waits; and its wait
// must not hold up Close called inside the callback, which waits for the readers not in
// a handler, the waiting one among them: the wait ends when the client stops. Both
// readers are simulated on goroutines of a synctest bubble (readers counted,
// readerReturned when done): synctest.Wait shows the newer reader blocked, and the hang
// guard fires at once, on the bubble's clock, if every goroutine is blocked.
func TestNewerReaderWaitsForTheGapCallback(t *testing.T) {
	for _, closeInside := range []bool{false, true} {
		name := map[bool]string{false: "released", true: "Close inside"}[closeInside]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { newerReaderWaits(t, closeInside) })
		})
	}
}

func newerReaderWaits(t *testing.T, closeInside bool) {
	var events []string // Appended by the simulated readers, one at a time (checked).
	s := &subscription{lastSeen: 9, established: true, ready: make(chan Subscribed, 1),
		status:  make(chan error, 1),
		handler: func(r Report) { events = append(events, fmt.Sprintf("report %d", r.Sequence)) }}
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), generation: 2,
		subscription: s, readers: 2, logoutSeen: make(chan struct{})}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	inCallback, release := make(chan struct{}), make(chan struct{})
	closed := make(chan error, 1)
	c.config.ReportsReused = func(first, last uint64) {
		close(inCallback)
		if closeInside {
			synctest.Wait() // The newer reader is waiting.
			closed <- c.Close()
		} else {
			<-release
		}
		events = append(events, fmt.Sprintf("reused %d..%d", first, last))
	}
	c.mu.Lock()
	s.frame(c.session) // Connection 2's resumption, from 10.
	c.mu.Unlock()
	readerDone := make(chan struct{}, 2)
	read := func(frame *wire.Frame, generation uint64) {
		defer func() { readerDone <- struct{}{} }()
		defer c.readerReturned()
		if err := c.handle(frame, generation); err != nil {
			t.Error(err)
		}
	}
	go read(subscribedFrame(5, 1), 2) // The new primary: next 5, below the 10 asked.
	<-inCallback
	c.mu.Lock()
	c.generation++ // install: connection 3, resuming from the moved filter (5).
	s.frame(c.session)
	c.mu.Unlock()
	go read(&wire.Frame{Kind: wire.KindReport, Aux: 5}, 3)
	if !closeInside {
		synctest.Wait()
		if len(events) != 0 {
			t.Fatalf("events %q while ReportsReused(5, 9) still runs: the newer "+
				"connection's reader handed report 5 over before it returned", events)
		}
		close(release)
	}
	for range 2 {
		select {
		case <-readerDone:
		case <-time.After(waitLimit): // The bubble's clock: at once if all are blocked.
			t.Fatal("a reader never returned (with Close inside the callback: Close " +
				"waits for the newer reader, which waits for the callback)")
		}
	}
	want := []string{"reused 5..9", "report 5"}
	if closeInside {
		want = want[:1] // No handler once Close has begun.
		if err := <-closed; err != nil {
			t.Fatalf("Close inside the callback: %v", err)
		}
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}
