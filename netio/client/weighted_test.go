package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waitForWaiters spins (yielding) until window counts waiters waiting: a goroutine's
// Acquire has queued, whatever the scheduler did first.
func waitForWaiters(t *testing.T, window *weighted, waiters int64) {
	t.Helper()
	for window.state.Load()>>weightedWaiterShift != waiters {
		runtime.Gosched()
	}
}

// TestWeightedServesInArrivalOrder: while an Acquire waits, a TryAcquire that would fit
// in the free bytes fails (it would pass the waiter, which could then wait forever
// behind a stream of small ones); the bytes released go to the waiter first.
func TestWeightedServesInArrivalOrder(t *testing.T) {
	window := newWeighted(10)
	if !window.TryAcquire(8) {
		t.Fatal("8 of 10 bytes not taken")
	}
	acquired := make(chan error, 1)
	go func() { acquired <- window.Acquire(context.Background(), 5) }()
	waitForWaiters(t, window, 1)
	if window.TryAcquire(1) {
		t.Fatal("TryAcquire passed a waiter")
	}
	window.Release(8)
	if err := <-acquired; err != nil {
		t.Fatal(err)
	}
	if !window.TryAcquire(5) || window.TryAcquire(1) {
		t.Fatal("after the waiter took 5 bytes, the other 5 are not exactly what is free")
	}
	window.Release(10)
	if window.state.Load() != 0 {
		t.Fatalf("state %#x after every byte released", window.state.Load())
	}
}

// TestWeightedCanceledWaiterHoldsNothing: an Acquire whose context ends while it waits
// returns the context's error holding nothing, and the waiter behind it, which its
// place at the head held up, is served with the bytes already free.
func TestWeightedCanceledWaiterHoldsNothing(t *testing.T) {
	window := newWeighted(10)
	if !window.TryAcquire(10) {
		t.Fatal("10 of 10 bytes not taken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- window.Acquire(ctx, 8) }()
	waitForWaiters(t, window, 1)
	second := make(chan error, 1)
	go func() { second <- window.Acquire(context.Background(), 2) }()
	waitForWaiters(t, window, 2)
	window.Release(4) // 4 free: the first does not fit, the second must wait behind it.
	if window.state.Load()>>weightedWaiterShift != 2 {
		t.Fatal("the second waiter passed the first")
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first: %v, want context.Canceled", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
	if held := window.state.Load(); held != 8 {
		t.Fatalf("state %#x, want 8 bytes held and no waiter", held)
	}
	ended, end := context.WithCancel(context.Background())
	end()
	if err := window.Acquire(ended, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with an ended context and free bytes: %v", err)
	}
	window.Release(8)
	if window.state.Load() != 0 {
		t.Fatalf("state %#x after every byte released", window.state.Load())
	}
}

// TestWeightedConcurrent: goroutines taking and giving back bytes at once, waiting or
// not, some of them giving up, never hold more than the size between them, and leave
// nothing held and nobody counted waiting (run with -race).
func TestWeightedConcurrent(t *testing.T) {
	const size, goroutines, rounds = 64, 8, 2000
	window := newWeighted(size)
	var held atomic.Int64
	var group sync.WaitGroup
	for g := range goroutines {
		group.Go(func() {
			random := rand.New(rand.NewPCG(uint64(g), 47))
			for range rounds {
				weight := 1 + random.Int64N(size/2)
				var err error
				switch random.IntN(3) {
				case 0:
					if !window.TryAcquire(weight) {
						continue
					}
				case 1:
					err = window.Acquire(context.Background(), weight)
				default: // Ended by another goroutine: before, while or after it waits.
					ctx, cancel := context.WithCancel(context.Background())
					go cancel()
					err = window.Acquire(ctx, weight)
					cancel()
				}
				if err != nil {
					continue
				}
				if total := held.Add(weight); total > size {
					t.Errorf("%d bytes held, more than %d", total, size)
				}
				runtime.Gosched()
				held.Add(-weight)
				window.Release(weight)
			}
		})
	}
	group.Wait()
	if window.state.Load() != 0 || len(window.queue) != 0 {
		t.Fatalf("state %#x, %d queued after every byte released", window.state.Load(),
			len(window.queue))
	}
}
