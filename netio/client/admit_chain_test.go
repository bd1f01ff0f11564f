package client

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"sequent/core/model"
)

// Tests of the queue of requests waiting for a window slot (submit, admitter, admit): a
// dropped request passes its turn on, the client's end empties the queue, and each caller's
// requests are numbered in the order it submitted them while the window fills and
// frees under other callers.

// oneEventRequests makes every submitted call a request of its own (CoalesceEventsMax 1).
func oneEventRequests(config *Config) { config.CoalesceEventsMax = 1 }

// submitOne submits a one-event transfer request of its own (CoalesceEventsMax 1).
func submitOne(ctx context.Context, c *Client, id uint64) (part, error) {
	body := make([]byte, model.TransferSize)
	event := transfer(id, 1, 3, 1, 0)
	event.Encode(body)
	return c.submit(ctx, coalesceKey{model.OperationCreateTransfers, 0, 0}, body, 1, false)
}

// TestQueuedChainPassesDroppedTurnsOn: six requests queue behind a full window; every
// caller of the second and the fifth leaves before the window frees. The others are
// answered, numbered in submission order one after another (the dropped ones take no
// number), and the chain is empty afterwards.
func TestQueuedChainPassesDroppedTurnsOn(t *testing.T) {
	s, c, ctx, blocker := heldWindowConfigured(t, 900, oneEventRequests)
	parts := make([]part, 6)
	for i := range parts {
		var err error
		if parts[i], err = submitOne(ctx, c, 901+uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	first := c.NextNumber()
	for _, i := range []int{1, 4} {
		left, leave := context.WithCancel(ctx)
		leave()
		if _, err := parts[i].wait(left); !errors.Is(err, context.Canceled) {
			t.Fatalf("request %d: %v, want context.Canceled", i, err)
		}
	}
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	want := first
	for i := range parts {
		if i == 1 || i == 4 {
			continue
		}
		if _, err := parts[i].wait(ctx); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if parts[i].call.Number != want {
			t.Fatalf("request %d numbered %d, want %d", i, parts[i].call.Number, want)
		}
		want++
	}
	waitFor(t, c, "the chain empty", func() bool { return c.admitting == 0 })
	if next := c.NextNumber(); next != want {
		t.Fatalf("next number %d, want %d (dropped requests took none)", next, want)
	}
}

// TestCloseUnwindsTheQueuedChain: Close while requests queue behind a full window fails
// each with ErrClosed and returns (shutdown waits for the admitter: its wait for the
// first request's slot ends with the client's lifetime, each next one's at once).
func TestCloseUnwindsTheQueuedChain(t *testing.T) {
	s, c, ctx, blocker := heldWindowConfigured(t, 950, oneEventRequests)
	parts := make([]part, 8)
	for i := range parts {
		var err error
		if parts[i], err = submitOne(ctx, c, 951+uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for i := range parts {
		if _, err := parts[i].wait(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("request %d: %v, want ErrClosed", i, err)
		}
	}
	if err := <-blocker; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocker: %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
	s.backend.Resume()
}

// TestCallersRequestsNumberedInOrderUnderContention: callers each submit requests in
// turn through a window of two while the others do the same (direct admissions and the
// queued chain interleave); each caller's numbers ascend.
func TestCallersRequestsNumberedInOrderUnderContention(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) {
		config.InflightMax = 2
		config.CoalesceEventsMax = 1
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const callers, rounds, each = 8, 20, 4
	var group sync.WaitGroup
	for caller := range uint64(callers) {
		group.Go(func() {
			for round := range uint64(rounds) {
				parts := make([]part, each)
				for i := range parts {
					var err error
					parts[i], err = submitOne(ctx, c, 1_000_000*(caller+1)+each*round+uint64(i))
					if err != nil {
						t.Errorf("caller %d: %v", caller, err)
						return
					}
				}
				for i := range parts {
					if _, err := parts[i].wait(ctx); err != nil {
						t.Errorf("caller %d: %v", caller, err)
						return
					}
					if i > 0 && parts[i].call.Number <= parts[i-1].call.Number {
						t.Errorf("caller %d round %d: numbers %d then %d", caller, round,
							parts[i-1].call.Number, parts[i].call.Number)
						return
					}
				}
			}
		})
	}
	group.Wait()
}

// goroutinesHolding counts the goroutines whose stack holds frame.
func goroutinesHolding(frame string) int {
	buffer := make([]byte, 1<<20)
	n := runtime.Stack(buffer, true)
	count := 0
	for _, stack := range strings.Split(string(buffer[:n]), "\n\n") {
		if strings.Contains(stack, frame) {
			count++
		}
	}
	return count
}

// TestQueuedAdmissionsShareOneGoroutine: six requests queued behind a full window wait
// for their slots on one goroutine (admitter), not on one each; once they are answered
// that goroutine stays, idle, for the next queue, and it ends with the client.
func TestQueuedAdmissionsShareOneGoroutine(t *testing.T) {
	s, c, ctx, blocker := heldWindowConfigured(t, 950, oneEventRequests)
	parts := make([]part, 6)
	for i := range parts {
		var err error
		if parts[i], err = submitOne(ctx, c, 951+uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitForGoroutine(t, "the first queued request waiting for its slot", "(*Client).admit(")
	if admitting := goroutinesHolding("(*Client).admit"); admitting != 1 {
		t.Fatalf("%d goroutines admit the 6 queued requests, want 1", admitting)
	}
	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	for i := range parts {
		if _, err := parts[i].wait(ctx); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	waitFor(t, c, "the queue empty", func() bool { return c.admitting == 0 })
	if kept := goroutinesHolding("(*Client).admitter("); kept != 1 {
		t.Fatalf("%d admitters once the queue is empty, want 1 (kept)", kept)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left := goroutinesHolding("(*Client).admitter("); left != 0 {
		t.Fatalf("%d admitters after Close, want 0", left)
	}
}
