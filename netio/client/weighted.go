package client

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// weighted is the client's window of expected reply bytes (Client.windowBytes,
// Config.InflightBytesMax): a weighted semaphore with the behaviour of
// golang.org/x/sync/semaphore's Weighted (waiters served in arrival order; TryAcquire
// fails while any waits; an Acquire whose context ends holds nothing), whose TryAcquire
// and Release take no lock while nobody waits. Every merged call takes its reply bytes
// on its way in, and with hundreds of one-transfer callers on two cores that semaphore's
// own mutex, taken besides the client's per call, was about 60 instructions of a call
// (bench/PERFORMANCE.md, sessions 45–46, issue 15); one compare-and-swap is left.
//
// The held bytes and the number of waiters share one word (state), so that a Release
// and a waiter's arrival cannot miss each other: a Release that finds no waiter counted
// freed its bytes before the waiter counted itself, and the waiter, which then looks at
// the bytes under mu, finds them; one that finds a waiter takes mu and serves the queue.
type weighted struct {
	size  int64
	state atomic.Int64 // Bytes held (low weightedWaiterShift bits), waiters above.
	mu    sync.Mutex   // Guards queue; serving a waiter takes it.
	queue []*weightedWaiter
}

// weightedWaiterShift places the waiters' count in state above the held bytes: sizes
// and weights stay below 1<<weightedWaiterShift (newWeighted), and the count below
// 1<<(63-weightedWaiterShift), far more goroutines than a process holds.
const weightedWaiterShift = 40

// weightedWaiter is one Acquire waiting in the queue: ready is closed once its bytes
// are taken for it.
type weightedWaiter struct {
	weight int64
	ready  chan struct{}
}

const (
	weightedHeldMask  = 1<<weightedWaiterShift - 1
	weightedOneWaiter = 1 << weightedWaiterShift
)

// newWeighted returns a window of size bytes. A size of 1<<weightedWaiterShift or more
// (Config.InflightBytesMax is any int Validate accepts: math.MaxInt says "no bound") is
// taken as weightedHeldMask, the most the packed word holds: a terabyte of replies in
// flight bounds nothing a process can hold anyway, and every weight taken from it is a
// frame's reply bytes at most (megabytes), so none waits for more than that window.
func newWeighted(size int64) *weighted {
	if size < 0 {
		panic("client: negative window size")
	}
	return &weighted{size: min(size, weightedHeldMask)}
}

// TryAcquire takes weight bytes without waiting, and reports whether it did: never while
// another Acquire waits (it would pass that one).
func (w *weighted) TryAcquire(weight int64) bool {
	for {
		state := w.state.Load()
		if state>>weightedWaiterShift != 0 || w.size-state&weightedHeldMask < weight {
			return false
		}
		if w.state.CompareAndSwap(state, state+weight) {
			return true
		}
	}
}

// Acquire takes weight bytes, waiting behind earlier waiters until they are free or ctx
// ends; then it returns ctx's error and holds nothing.
func (w *weighted) Acquire(ctx context.Context, weight int64) error {
	done := ctx.Done()
	w.mu.Lock()
	select {
	case <-done: // Ended before the call: fail even when the bytes are free.
		w.mu.Unlock()
		return ctx.Err()
	default:
	}
	if w.TryAcquire(weight) {
		w.mu.Unlock()
		return nil
	}
	if weight > w.size { // Never served: it would hold up every waiter behind it.
		w.mu.Unlock()
		<-done
		return ctx.Err()
	}
	waiter := &weightedWaiter{weight: weight, ready: make(chan struct{})}
	w.queue = append(w.queue, waiter)
	w.state.Add(weightedOneWaiter)
	w.serveLocked() // Bytes released before the count went up are seen here.
	w.mu.Unlock()
	select {
	case <-waiter.ready:
		return nil
	case <-done:
		w.mu.Lock()
		select {
		case <-waiter.ready: // Served meanwhile: give the bytes back.
			w.state.Add(-weight)
		default:
			index := slices.Index(w.queue, waiter)
			w.queue = slices.Delete(w.queue, index, index+1)
			w.state.Add(-weightedOneWaiter)
		}
		w.serveLocked() // The ones behind it may fit now.
		w.mu.Unlock()
		return ctx.Err()
	}
}

// Release gives back weight bytes taken before, serving the waiters they let in.
func (w *weighted) Release(weight int64) {
	state := w.state.Add(-weight)
	if state&weightedHeldMask > w.size { // Wrapped below zero.
		panic("client: window released more than held")
	}
	if state>>weightedWaiterShift != 0 {
		w.mu.Lock()
		w.serveLocked()
		w.mu.Unlock()
	}
}

// serveLocked takes the bytes of the waiters at the head of the queue, in order, while
// they fit, and wakes them. Called with mu held.
func (w *weighted) serveLocked() {
	for len(w.queue) != 0 {
		waiter := w.queue[0]
		state := w.state.Load()
		if w.size-state&weightedHeldMask < waiter.weight {
			return // The head waits; those behind it wait for it (arrival order).
		}
		if !w.state.CompareAndSwap(state, state+waiter.weight-weightedOneWaiter) {
			continue // A Release or a TryAcquire in between: look again.
		}
		w.queue[0] = nil
		w.queue = w.queue[1:]
		close(waiter.ready)
	}
}
