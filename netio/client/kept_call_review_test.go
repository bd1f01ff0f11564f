package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestKeptLostCallLeavesOnItsFinalAnswer pins both ends of the rule for a call kept
// pending without a caller because a copy of it was lost with a connection (PROTOCOL.md
// §7). Its caller leaves while the client is disconnected, before any refusal (so only
// the lost copy keeps it). After the reconnect the resend is answered busy, then
// shutting_down (answers that say nothing of the lost copy, which the server may still
// apply, and that end): the call must stay pending, holding its slot. Then a final
// answer: request_too_old, or (session 43) rate_limited, which a request of more events
// than the client's events_per_second gets at every attempt, so that for a call nobody
// waits for it ends the resends as a final answer does
// (TestLostMergedRequestAboveTheBurstIsNotResentForEver; before session 43 this test
// kept the call pending on rate_limited too). The call must leave, give its slot back,
// count as a late reply once, and leave its caller's error as it was (context.Canceled,
// not the status). A kept call that never left on a final answer would hold the slot for
// good.
func TestKeptLostCallLeavesOnItsFinalAnswer(t *testing.T) {
	for _, final := range []model.Status{model.StatusRequestTooOld,
		model.StatusRateLimited} {
		t.Run(final.String(), func(t *testing.T) { keptLostCallLeavesOn(t, final) })
	}
}

func keptLostCallLeavesOn(t *testing.T, final model.Status) {
	c, second := newWindowOfOneClient(t)
	defer func() {
		c.mu.Lock()
		c.closed = true // The scheduled resends, were they to fire, do nothing.
		c.mu.Unlock()
	}()
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{}), client: c, holdsWindow: true,
		frame: []byte("request 1")}
	// resend queues a copy on the current connection, as install or a resend does; a
	// writer took it.
	resend := func() {
		c.mu.Lock()
		c.queueLocked(call, call.frame)
		c.outbox = c.outbox[:0]
		c.mu.Unlock()
	}
	answer := func(status model.Status) {
		c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation, Number: 1,
			Status: uint32(status)}, c.generation)
	}
	keptState := func() (pending bool, late int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pending[1] == call, len(c.late)
	}
	c.mu.Lock()
	c.pending[1] = call
	c.mu.Unlock()
	resend()
	c.mu.Lock()
	c.lostLocked(1, errors.New("connection ended"))
	c.mu.Unlock()

	c.abandon(call, context.Canceled) // Disconnected: nothing of it on its way now.
	if pending, _ := keptState(); !pending || c.window.TryAcquire(1) {
		t.Fatal("abandoned with a copy lost: left the pending set or its slot")
	}
	c.mu.Lock()
	c.conn, c.generation = second, 2 // Reconnected: install resent it.
	c.mu.Unlock()
	for _, status := range []model.Status{model.StatusBusy, model.StatusShuttingDown} {
		resend()
		answer(status)
		if pending, late := keptState(); !pending || late != 0 || c.window.TryAcquire(1) {
			t.Fatalf("kept call answered %s: pending %v, late replies %d, or its slot "+
				"given back; want true, 0, held", status, pending, late)
		}
	}
	resend()
	answer(final)
	pending, late := keptState()
	if free := c.window.TryAcquire(1); pending || late != 1 || !free {
		t.Fatalf("kept call answered %s: pending %v, late replies %d, slot given back "+
			"%v; want false, 1, true", final, pending, late, free)
	}
	if !errors.Is(call.Err, context.Canceled) {
		t.Fatalf("the caller's error became %v, want context.Canceled", call.Err)
	}
}

// TestLateRepliesStayBounded: every call that leaves after a copy of it was lost with a
// connection (or after a refusal) is recorded as a late reply (window.go), and a client
// that reconnects often records one for nearly every request. The set must stay bounded
// however long the client runs: it is pruned whenever the cheap window check fails, and
// every entry is then numbered at or above spanStart and below next, one per number, with
// next - spanStart at most exactlyOnceWindow; so it never holds more entries than that.
// Requests are numbered through the window check, each marked lost, and answered in a
// random order (a seeded generator: the same run each time); the oldest is answered
// whenever the window is full.
func TestLateRepliesStayBounded(t *testing.T) {
	const (
		requests   = 20 * exactlyOnceWindow
		pendingMax = exactlyOnceWindow / 2
		// Small: the number bound, not the bytes, is the one hit.
		replyBytes     = 1 << 10
		lateEntriesMax = exactlyOnceWindow // See above.
	)
	random := rand.New(rand.NewPCG(31, 2))
	c := &Client{pending: map[uint64]*Call{}, next: 1, spanStart: 1}
	c.mu.Lock() // The Locked methods' contract; nothing else runs.
	defer c.mu.Unlock()
	var pending []*Call
	answer := func(index int) {
		call := pending[index]
		pending = append(pending[:index], pending[index+1:]...)
		c.leavePendingLocked(call)
	}
	for numbered := 0; numbered < requests; {
		if !c.insideWindowLocked(replyBytes) {
			oldest := 0
			for index, call := range pending {
				if call.Number < pending[oldest].Number {
					oldest = index
				}
			}
			if len(pending) == 0 {
				t.Fatalf("window full with nothing pending: next %d, span from %d, late "+
					"replies %d", c.next, c.spanStart, len(c.late))
			}
			answer(oldest)
			continue
		}
		call := &Call{Operation: model.OperationCreateTransfers, lostCopy: true}
		c.numberLocked(call, replyBytes)
		c.pending[call.Number] = call
		pending = append(pending, call)
		numbered++
		for len(pending) > 0 && (len(pending) > pendingMax || random.IntN(3) == 0) {
			answer(random.IntN(len(pending)))
		}
		if len(c.late) > lateEntriesMax {
			t.Fatalf("after %d requests, %d late replies recorded, more than %d", numbered,
				len(c.late), lateEntriesMax)
		}
	}
}
