package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitForAcquireOnLock yields until a goroutine of the test binary is blocked taking
// window.mu inside (*weighted).Acquire: the waiter, woken by its context's end, is past
// its select and about to look at whether it was served meanwhile. Stack inspection, not
// time: it holds whatever the scheduler does.
func waitForAcquireOnLock(t *testing.T) {
	t.Helper()
	buffer := make([]byte, 1<<20)
	for {
		stacks := string(buffer[:runtime.Stack(buffer, true)])
		for _, stack := range strings.Split(stacks, "\n\n") {
			if strings.Contains(stack, "(*weighted).Acquire(") &&
				strings.Contains(stack, "sync.(*Mutex).") && !strings.Contains(stack, "selectgo") {
				return
			}
		}
		runtime.Gosched()
	}
}

// TestWeightedServedAsCanceledGivesBack: a waiter whose context ends at the moment its
// bytes are taken for it (it wakes on the context, then finds itself served) returns the
// context's error and holds nothing: the bytes taken for it go back, and the next
// waiter or TryAcquire gets them. Ordered by holding the window's lock, so the path is
// taken every run.
func TestWeightedServedAsCanceledGivesBack(t *testing.T) {
	window := newWeighted(10)
	if !window.TryAcquire(10) {
		t.Fatal("10 of 10 bytes not taken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	acquired := make(chan error, 1)
	go func() { acquired <- window.Acquire(ctx, 6) }()
	waitForWaiters(t, window, 1)
	window.mu.Lock()
	cancel()
	waitForAcquireOnLock(t) // Woken by its context, waiting for mu.
	window.state.Add(-10)   // Release(10), whose serve is below (it would take mu).
	window.serveLocked()    // Served: its 6 bytes are taken for it.
	if window.state.Load() != 6 {
		window.mu.Unlock()
		t.Fatalf("state %#x, want the waiter's 6 bytes taken and no waiter", window.state.Load())
	}
	window.mu.Unlock()
	if err := <-acquired; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire: %v, want context.Canceled (it woke on its context)", err)
	}
	if state := window.state.Load(); state != 0 {
		t.Fatalf("state %#x after a canceled Acquire: the bytes taken for it leaked", state)
	}
	if !window.TryAcquire(10) {
		t.Fatal("the whole window is not free")
	}
	window.Release(10)
}

// TestWeightedStressModel: many goroutines take and give back random weights (up to the
// whole window, and some more than it) with TryAcquire, Acquire, Acquire with a context
// already ended and Acquire with a context ended by another goroutine meanwhile; a model
// of what the callers hold says: what they hold never exceeds the size, nor does the
// window's own count of held bytes; an Acquire with a context ended before it and one of
// more than the size always fail; once every goroutine is done nothing is held, nobody
// is counted or queued waiting, and the whole window can be taken at once. Bounded by
// count (run with -race).
func TestWeightedStressModel(t *testing.T) {
	const size, goroutines, rounds = 16, 12, 1500
	window := newWeighted(size)
	var held atomic.Int64 // The model: bytes the goroutines hold between them.
	var group sync.WaitGroup
	// Goroutines done, and those inside an Acquire whose context never ends: when all
	// the others are done and those wait in the queue, nobody will ever give bytes back
	// or leave: a lost wake-up or leaked bytes, reported instead of hanging.
	var finished, waitingForever atomic.Int64
	ended, end := context.WithCancel(context.Background())
	end()
	for g := range goroutines {
		group.Go(func() {
			random := rand.New(rand.NewPCG(uint64(g), 4747))
			for range rounds {
				weight := 1 + random.Int64N(size)
				var err error
				switch random.IntN(6) {
				case 0, 1:
					if !window.TryAcquire(weight) {
						continue
					}
				case 2:
					waitingForever.Add(1)
					err = window.Acquire(context.Background(), weight)
					waitingForever.Add(-1)
				case 3:
					if err := window.Acquire(ended, weight); !errors.Is(err, context.Canceled) {
						t.Errorf("Acquire with an ended context: %v", err)
						if err == nil {
							window.Release(weight)
						}
					}
					continue
				case 4:
					ctx, cancel := context.WithCancel(context.Background())
					go cancel()
					err = window.Acquire(ctx, weight)
					cancel()
				default: // More than the size: never served, gives up on its context.
					ctx, cancel := context.WithCancel(context.Background())
					go cancel()
					if err := window.Acquire(ctx, size+weight); err == nil {
						t.Errorf("Acquire of %d bytes of a %d-byte window succeeded",
							size+weight, size)
						window.Release(size + weight)
					}
					cancel()
					continue
				}
				if err != nil {
					continue
				}
				if total := held.Add(weight); total > size {
					t.Errorf("callers hold %d bytes of a %d-byte window", total, size)
				}
				if state := window.state.Load(); state < 0 || state&weightedHeldMask > size {
					t.Errorf("state %#x: more than %d bytes held, or waiters below zero",
						state, size)
				}
				runtime.Gosched()
				held.Add(-weight)
				window.Release(weight)
			}
			finished.Add(1)
		})
	}
	for finished.Load() < goroutines {
		window.mu.Lock()
		queued, state := int64(len(window.queue)), window.state.Load()
		stuck := finished.Load()+queued == goroutines && waitingForever.Load() == queued
		window.mu.Unlock()
		if stuck {
			t.Fatalf("stuck: %d goroutines done, the other %d wait with nobody holding "+
				"bytes to give back (state %#x)", goroutines-queued, queued, state)
		}
		time.Sleep(time.Millisecond) // A poll's pace, not a bound.
	}
	group.Wait()
	window.mu.Lock()
	queued := len(window.queue)
	window.mu.Unlock()
	if state := window.state.Load(); state != 0 || queued != 0 {
		t.Fatalf("state %#x, %d queued after every byte released", state, queued)
	}
	if !window.TryAcquire(size) {
		t.Fatal("the whole window is not free")
	}
	window.Release(size)
}

// TestWeightedReleaseAsWaiterArrives: the window's bytes all held, an Acquire arriving
// while they are given back is served, whichever of its steps the Release falls between
// (it found them held; it had not counted itself yet: the Release saw no waiter and
// served nobody). Checked without time: once the Release returned, the arriving Acquire
// is never found queued (under the window's lock) while its bytes are free. The Release
// is made while the Acquire holds the lock, as often as the scheduler allows.
func TestWeightedReleaseAsWaiterArrives(t *testing.T) {
	const size, rounds = 4, 5000
	window := newWeighted(size)
	random := rand.New(rand.NewPCG(47, 47))
	var spun atomic.Int64
	for round := range rounds {
		if !window.TryAcquire(size) {
			t.Fatalf("round %d: the window is not free", round)
		}
		acquired := make(chan error, 1)
		go func() { acquired <- window.Acquire(context.Background(), 1) }()
		for window.state.Load()>>weightedWaiterShift == 0 && window.mu.TryLock() {
			window.mu.Unlock() // The Acquire has not taken the lock yet.
			runtime.Gosched()
		}
		// A few steps more, or none: the Release lands anywhere in the Acquire's turn.
		for range random.IntN(64) {
			spun.Add(1)
		}
		window.Release(size)
		for served := false; !served; {
			select {
			case err := <-acquired:
				if err != nil {
					t.Fatal(err)
				}
				served = true
				continue
			default:
			}
			window.mu.Lock()
			lost := len(window.queue) != 0 && window.state.Load()&weightedHeldMask < size
			state := window.state.Load()
			window.mu.Unlock()
			if lost {
				t.Fatalf("round %d: the Acquire waits with the bytes free (state %#x): "+
					"a lost wake-up", round, state)
			}
			runtime.Gosched()
		}
		window.Release(1)
	}
}

// TestWeightedDoomedAcquireHoldsUpNobody: an Acquire of more than the window's size,
// which can never be served, waits for its context alone: it is not queued, so the
// callers after it are served as if it were not there (x/sync's semaphore does so too).
func TestWeightedDoomedAcquireHoldsUpNobody(t *testing.T) {
	window := newWeighted(10)
	ctx, cancel := context.WithCancel(context.Background())
	doomed := make(chan error, 1)
	go func() { doomed <- window.Acquire(ctx, 11) }()
	buffer := make([]byte, 1<<20)
	for parked := false; !parked; { // Until it waits (stack inspection, not time).
		stacks := string(buffer[:runtime.Stack(buffer, true)])
		for _, stack := range strings.Split(stacks, "\n\n") {
			parked = parked || strings.Contains(stack, "(*weighted).Acquire(") &&
				(strings.Contains(stack, "[chan receive") || strings.Contains(stack, "[select"))
		}
		runtime.Gosched()
	}
	if !window.TryAcquire(10) {
		t.Fatalf("an Acquire that can never be served held up TryAcquire (state %#x)",
			window.state.Load())
	}
	cancel()
	if err := <-doomed; !errors.Is(err, context.Canceled) {
		t.Fatalf("doomed Acquire: %v", err)
	}
	window.Release(10)
	if window.state.Load() != 0 {
		t.Fatalf("state %#x", window.state.Load())
	}
}
