package client

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestEndedContextLeavesACompletionInProgressAlone: the server answers a write ok (it is
// applied) and, at the same moment, its caller's context ends. The reader (complete)
// takes the call out of the pending set under mu and completes it once mu is released;
// the caller's abandon (Wait) or leave (a merged request's caller), run in between,
// found the call no longer pending and completed it first, with the context's error
// itself, which says the write was not applied (doc.go, Context deadlines): the applied
// write is reported as never sent. The same gap follows shutdown's and failCall's
// removals, whose *OutcomeUnknownError the context's error then overrides.
//
// The interleaving is forced, not hoped for: with one P, a mutex in starvation mode
// hands itself to the first waiter and runs it at once (sync.Mutex's documented
// fairness; runtime semrelease with handoff), so when the reader releases mu inside
// complete, the abandoning caller, queued behind it, runs before the reader goes on to
// complete the call. The test checks that the scenario was reached (the mutex's state
// word: waiters, starvation) and fails if it was not, rather than passing vacuously.
func TestEndedContextLeavesACompletionInProgressAlone(t *testing.T) {
	for _, caller := range []string{"wait", "merged"} {
		t.Run(caller, func(t *testing.T) { endedContextAsReplyCompletes(t, caller) })
	}
}

func endedContextAsReplyCompletes(t *testing.T, caller string) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f := newUnknownOutcomeFixture(t, time.Hour, "none") // Written, not answered yet.
	c, call := f.c, f.call
	if caller == "merged" { // One caller of a merged request, written the same way.
		c.mu.Lock()
		call.key = coalesceKey{operation: model.OperationCreateTransfers}
		call.waiters, call.outboxSlot, call.events = 1, -1, 0
		c.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		if caller == "merged" {
			p := part{call: call} // resultBytes 0: the whole (empty) body is the caller's.
			_, err := p.wait(ctx)
			waited <- err
			return
		}
		_, err := call.Wait(ctx)
		waited <- err
	}()

	c.mu.Lock()
	answered := make(chan struct{})
	go func() { // The reader: the write is applied, its reply read.
		c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation, Number: 1,
			Status: uint32(model.StatusOK)}, 2)
		close(answered)
	}()
	waitForMutexState(t, &c.mu, "the reply waiting for mu", func(state int32) bool {
		return state>>mutexWaiterShiftForTest == 1
	})
	cancel() // The caller's abandon (or leave) queues behind the reply's completion.
	waitForMutexState(t, &c.mu, "the abandon waiting for mu behind it", func(state int32) bool {
		return state>>mutexWaiterShiftForTest == 2
	})
	// Both have waited beyond the mutex's starvation threshold (1 ms): barging in once
	// more, while the first waiter is woken, switches the mutex to starvation mode.
	time.Sleep(5 * time.Millisecond)
	c.mu.Unlock()
	c.mu.Lock()
	waitForMutexState(t, &c.mu, "the mutex in starvation mode", func(state int32) bool {
		return state&mutexStarvingForTest != 0 && state>>mutexWaiterShiftForTest == 2
	})
	c.mu.Unlock() // To the reply's completion, then from it to the abandon.

	var err error
	select {
	case err = <-waited:
	case <-time.After(waitLimit):
		t.Fatal("the caller never returned")
	}
	<-answered
	if err != nil {
		t.Fatalf("a write answered ok (applied) as its caller's context ended: %v; the "+
			"context's error alone says it was never applied", err)
	}
}

// The state word of sync.Mutex (its first field: internal/sync.Mutex.state): the low
// bits are flags, the count of waiters is above them.
const (
	mutexStarvingForTest    = 4
	mutexWaiterShiftForTest = 3
)

// waitForMutexState yields until the state word of mu satisfies condition (the limit
// only guards against a hang: it fails the test, whose scenario was then not reached).
func waitForMutexState(t *testing.T, mu *sync.Mutex, what string, condition func(int32) bool) {
	t.Helper()
	state := (*atomic.Int32)(unsafe.Pointer(mu))
	deadline := time.Now().Add(waitLimit)
	for !condition(state.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("scenario not reached: %s (mutex state %#x)", what, state.Load())
		}
		runtime.Gosched()
	}
}
