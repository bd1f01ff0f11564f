package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// Review of the rejoin wait (coalesce.go, "Rejoin"), session 38.

// rejoinAnswered starts a server and a client (configure applied after an hour's
// RejoinWait: only the count, a closed request or Close can end a hold), has callers
// one-transfer callers answered together by one merged request (formed while a
// blocker's request holds the open slot, the shard paused) and returns the client, the
// server and a context bounding the test (waitLimit, a hang guard). The next merged
// request then holds for callers callers.
func rejoinAnswered(t *testing.T, callers int, configure func(*Config)) (*testServer, *Client,
	context.Context) {
	t.Helper()
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) {
		config.RejoinWait = time.Hour
		if configure != nil {
			configure(config)
		}
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(1000, 1, 2, 1, 0))
	var firsts sync.WaitGroup
	for i := range callers {
		firsts.Go(func() {
			results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(uint64(2000+i), 1, 2, 1, 0)})
			if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
				t.Errorf("first transfer %d: %v %v", i, results, err)
			}
		})
	}
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	waitFor(t, c, "every caller in the forming request", func() bool {
		return c.forming[key] != nil && c.forming[key].waiters == callers
	})
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	firsts.Wait()
	c.mu.Lock()
	released := c.rejoinReleased
	c.mu.Unlock()
	if released != callers {
		t.Fatalf("the answer released %d callers, want %d", released, callers)
	}
	return s, c, ctx
}

// TestRejoinHoldLeavesTheWindowToOtherRequests: with a window of one request
// (InflightMax 1), 40 callers answered together each look an account up (LookupAccounts:
// a request of its own, never merged) before their next transfer. The first back forms
// the next merged request, whose admission holds for the 40. If the hold takes the
// window's only slot before it waits, the other 39 lookups cannot be sent, so their
// callers can never come back, and the hold lasts its whole bound (an hour here; 1 ms
// by default, paid every round): the callers' contexts (the hang guard, waitLimit) run
// out. Waiting before it takes the window slot, the lookups go, the 39 join, and the 40
// transfers leave in one request.
//
// Fails at b16b8bd (the wait runs after acquireSlots took both slots): the lookups end
// with the guard's context deadline.
func TestRejoinHoldLeavesTheWindowToOtherRequests(t *testing.T) {
	const callers = 40
	s, c, ctx := rejoinAnswered(t, callers, func(config *Config) { config.InflightMax = 1 })
	before := s.backend.Submitted()
	var seconds sync.WaitGroup
	second := func(i int, lookup bool) {
		if lookup {
			if _, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
				t.Errorf("lookup of caller %d: %v", i, err)
				return
			}
		}
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(uint64(3000+i), 1, 2, 1, 0)})
		if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
			t.Errorf("second transfer %d: %v %v", i, results, err)
		}
	}
	seconds.Go(func() { second(0, false) })
	waitFor(t, c, "the next merged request held for the callers", func() bool {
		return c.rejoinCall != nil
	})
	for i := 1; i < callers; i++ {
		seconds.Go(func() { second(i, true) })
	}
	seconds.Wait()
	// The 39 lookups, then the 40 transfers in one request.
	if requests := s.backend.Submitted() - before; requests != callers {
		t.Errorf("%d requests for 39 lookups and the 40 transfers, want %d", requests, callers)
	}
}

// secondTransfer is caller i's next one-transfer call after rejoinAnswered: its error,
// or one naming a result other than ok.
func secondTransfer(ctx context.Context, c *Client, i int) error {
	results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(uint64(3000+i), 1, 2, 1, 0)})
	if err == nil && (len(results) != 1 || results[0].Status != model.StatusOK) {
		err = fmt.Errorf("transfer %d: %v", i, results)
	}
	return err
}

// TestRejoinHoldAnswersLeavingCallersAndClose: while the next merged request holds (an
// hour's bound) for the 40 callers an answer released, one caller in it whose context
// ends is answered at once, outcome unknown (its event is still in the request, which
// will be sent), not at the bound; and Close ends the hold: the caller left in the
// request, never numbered, gets ErrClosed. Passes at b16b8bd (a probe of the review).
func TestRejoinHoldAnswersLeavingCallersAndClose(t *testing.T) {
	_, c, ctx := rejoinAnswered(t, 40, nil)
	leaving, leave := context.WithCancel(ctx)
	defer leave()
	left, stays := make(chan error, 1), make(chan error, 1)
	go func() { left <- secondTransfer(leaving, c, 0) }()
	waitFor(t, c, "the next merged request held", func() bool { return c.rejoinCall != nil })
	go func() { stays <- secondTransfer(ctx, c, 1) }()
	waitFor(t, c, "the second caller in it", func() bool {
		return c.rejoinCall != nil && c.rejoinCall.waiters == 2
	})
	leave()
	var unknown *OutcomeUnknownError
	if err := <-left; !errors.As(err, &unknown) || !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that left: %v, want an outcome unknown wrapping its context's", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-stays; !errors.Is(err, ErrClosed) {
		t.Errorf("the caller held at Close: %v, want ErrClosed", err)
	}
}

// TestRejoinHoldAcrossAReconnect: the connection is lost while the next merged request
// holds for the 40 callers an answer released (its slot taken, no number yet); the 40
// come back meanwhile and after the reconnect. The request is numbered after the wait,
// sent once on the new connection, and applied once: one request, every transfer ok.
// Passes at b16b8bd (a probe of the review).
func TestRejoinHoldAcrossAReconnect(t *testing.T) {
	const callers = 40
	s, c, ctx := rejoinAnswered(t, callers, nil)
	before := s.backend.Submitted()
	errs := make(chan error, callers)
	go func() { errs <- secondTransfer(ctx, c, 0) }()
	var held *Call // Read under the client's mu (waitFor).
	waitFor(t, c, "the next merged request held", func() bool {
		held = c.rejoinCall
		return held != nil
	})
	c.mu.Lock()
	generation := c.generation
	c.lostLocked(generation, errors.New("test: connection dropped"))
	c.mu.Unlock()
	for i := 1; i < callers/2; i++ {
		go func() { errs <- secondTransfer(ctx, c, i) }()
	}
	waitFor(t, c, "a new connection", func() bool {
		return c.conn != nil && c.generation != generation
	})
	for i := callers / 2; i < callers; i++ {
		go func() { errs <- secondTransfer(ctx, c, i) }()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if requests := s.backend.Submitted() - before; requests != 1 {
		t.Errorf("%d requests for the 40 callers back, want 1", requests)
	}
	c.mu.Lock()
	number := held.Number
	c.mu.Unlock()
	if applied := s.backend.Applications(1, c.Session(), number); applied != 1 {
		t.Errorf("merged request %d applied %d times, want once", number, applied)
	}
}

// TestRejoinHoldEndsWhenTheRequestCanTakeNoMore: while the next merged request holds
// (an hour's bound) for the 40 callers an answer released, a caller whose events end in
// an open linked chain joins it and closes it (nothing may follow the chain), and so
// does one whose events fill it (CoalesceEventsMax 41): either ends the hold at once,
// and the one request carries the first caller's transfer (ok) and the second's events
// (an open chain failing at the request's end, linked_event_failed then
// linked_event_chain_open, as a request of its own would; a full run, ok). Passes at
// b16b8bd (a probe of the review).
func TestRejoinHoldEndsWhenTheRequestCanTakeNoMore(t *testing.T) {
	for _, test := range []struct {
		name   string
		events []model.Transfer
		want   []model.Status
	}{
		{"open chain", []model.Transfer{transfer(4000, 1, 2, 1, model.TransferLinked),
			transfer(4001, 1, 2, 1, model.TransferLinked)},
			[]model.Status{model.StatusLinkedEventFailed, model.StatusLinkedEventChainOpen}},
		{"full", func() []model.Transfer {
			events := make([]model.Transfer, 40)
			for i := range events {
				events[i] = transfer(uint64(4000+i), 1, 2, 1, 0)
			}
			return events
		}(), slices.Repeat([]model.Status{model.StatusOK}, 40)},
	} {
		t.Run(test.name, func(t *testing.T) {
			s, c, ctx := rejoinAnswered(t, 40, func(config *Config) {
				config.CoalesceEventsMax = 41
			})
			before := s.backend.Submitted()
			first := make(chan error, 1)
			go func() { first <- secondTransfer(ctx, c, 0) }()
			waitFor(t, c, "the next merged request held", func() bool {
				return c.rejoinCall != nil
			})
			results, err := c.CreateTransfers(ctx, test.events)
			if err != nil {
				t.Fatal(err)
			}
			if got := statuses(results); !slices.Equal(got, test.want) {
				t.Errorf("the joining caller's results %v, want %v", got, test.want)
			}
			if err := <-first; err != nil {
				t.Error(err)
			}
			if requests := s.backend.Submitted() - before; requests != 1 {
				t.Errorf("%d requests, want 1", requests)
			}
		})
	}
}

// TestRejoinHoldAllocatesNothing: the hold itself (holdForRejoin, here ended by its
// bound, a nanosecond) allocates nothing per request: the timer and the signal channel
// are the client's, made at Dial. A bare client: no connection, no other goroutine of
// the client allocating meanwhile.
func TestRejoinHoldAllocatesNothing(t *testing.T) {
	c := &Client{config: Config{RejoinWait: 50 * time.Microsecond},
		forming: map[coalesceKey]*Call{}, rejoinTimer: time.NewTimer(time.Hour),
		rejoinReady: make(chan struct{}, 1), now: time.Now}
	c.rejoinTimer.Stop()
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	defer c.endLifetime()
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	call := &Call{key: key}
	c.forming[key] = call
	start := time.Now()
	allocations := testing.AllocsPerRun(100, func() {
		// Answered just now: the hold waits (up to the bound) on its timer.
		c.rejoinReleased, c.rejoinArrived, c.rejoinAnsweredAt = rejoinCallersMin, 0, c.now()
		c.holdForRejoin(call)
	})
	if allocations != 0 {
		t.Errorf("%v allocations per hold, want 0", allocations)
	}
	// The holds waited on their timer (a timer never fires early; each waits the bound
	// less the instant since its answer): holds that returned at once would allocate
	// nothing either.
	if elapsed := time.Since(start); elapsed < 50*c.config.RejoinWait {
		t.Errorf("101 holds took %v, less than 50 bounds of %v: they did not wait",
			elapsed, c.config.RejoinWait)
	}
}
