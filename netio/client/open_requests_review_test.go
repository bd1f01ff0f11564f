package client

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestLoneCallersRunsCutByAChainArePipelined: a lone caller's batch of one request and
// a bit more, whose linked chain crosses the cut, is sent as two runs (chunks never cuts
// a chain): the first one event short of full, so formed open to more callers. Its
// caller's second run follows at once; holding it back until the first is answered
// (openRequestsPendingMax) would have one caller's runs leave one per round trip, where
// they were pipelined before the open-request bound, and contradict "a lone caller never
// finds a request of its own still pending: its latency does not change" (coalesce.go).
// With the shard paused, both runs must be in flight.
func TestLoneCallersRunsCutByAChainArePipelined(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	transfers := make([]model.Transfer, model.EventsPerRequestMax+1)
	for i := range transfers {
		transfers[i] = transfer(uint64(10_000+i), 1, 2, 1, 0)
	}
	// A chain of the last two transfers crosses the cut at EventsPerRequestMax: the first
	// run ends one transfer earlier, and the second takes the chain.
	transfers[model.EventsPerRequestMax-1].Flags = model.TransferLinked
	s.backend.Pause()
	done := make(chan error, 1)
	go func() {
		results, err := c.CreateTransfers(ctx, transfers)
		for i, result := range results {
			if result.Status != model.StatusOK {
				t.Errorf("transfer %d: %s", i, result.Status)
				break
			}
		}
		done <- err
	}()
	// Both runs submitted: in flight, or the second waiting for admission.
	waitFor(t, c, "both runs in flight, or the second held back", func() bool {
		return len(c.pending) == 2 || len(c.pending) == 1 && c.admitting > 0
	})
	c.mu.Lock()
	pending, admitting := len(c.pending), c.admitting
	c.mu.Unlock()
	s.backend.Resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pending != 2 {
		t.Errorf("%d of the lone caller's 2 runs in flight (%d held back for admission), "+
			"want both: its second run waited for its first one's reply", pending, admitting)
	}
}

// TestOpenSlotWaitEndsWithItsCallersAndWithClose: with the default window and an open
// request on its way (the shard paused), the next merged request waits for the open
// slot in admission, not for a window slot. Its only caller leaving gets its context's
// error (never sent) and the request takes no number; the next caller's request, queued
// behind it, goes once the first is answered, and the open slot is free afterwards.
// Close instead fails the waiting caller with ErrClosed and returns.
func TestOpenSlotWaitEndsWithItsCallersAndWithClose(t *testing.T) {
	for _, ending := range []string{"leave", "close"} {
		t.Run(ending, func(t *testing.T) {
			s := startTestServer(t)
			c := s.dial(t, nil)
			createTestAccounts(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			s.backend.Pause()
			blocker := holdWindow(ctx, t, c, transfer(600, 1, 2, 1, 0))
			first := c.NextNumber()
			left, err := submitOne(ctx, c, 601)
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			waiting := c.admitting == 1 && len(c.pending) == 1
			c.mu.Unlock()
			if !waiting {
				t.Fatal("the second open request is not waiting in admission")
			}
			if ending == "leave" {
				leaving, leave := context.WithCancel(ctx)
				leave()
				if _, err := left.wait(leaving); !errors.Is(err, context.Canceled) ||
					errors.As(err, new(*OutcomeUnknownError)) {
					t.Fatalf("the caller leaving before admission: %v, want "+
						"context.Canceled alone", err)
				}
			}
			next, err := submitOne(ctx, c, 602)
			if err != nil {
				t.Fatal(err)
			}
			if ending == "close" {
				closed := make(chan error, 1)
				go func() { closed <- c.Close() }()
				for _, p := range []part{left, next} {
					if _, err := p.wait(ctx); !errors.Is(err, ErrClosed) {
						t.Fatalf("a caller waiting for the open slot: %v, want ErrClosed", err)
					}
				}
				if err := <-closed; err != nil {
					t.Fatal(err)
				}
				s.backend.Resume()
				<-blocker
				return
			}
			s.backend.Resume()
			if err := <-blocker; err != nil {
				t.Fatal(err)
			}
			if _, err := next.wait(ctx); err != nil {
				t.Fatal(err)
			}
			if next.call.Number != first {
				t.Errorf("the next request numbered %d, want %d (the left one takes none)",
					next.call.Number, first)
			}
			waitFor(t, c, "the admission queue empty", func() bool { return c.admitting == 0 })
			if !c.openRequests.TryAcquire(1) {
				t.Fatal("the open slot is still held with nothing in flight")
			}
			c.openRequests.Release(1)
		})
	}
}
