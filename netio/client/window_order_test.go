package client

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
)

// TestWindowWaitersAreNumberedInArrivalOrder: callers waiting for room in the
// exactly-once window (window.go) take their numbers in the order they began to wait,
// whether they came through Go or through a merged request's admit. A Go request of
// 6,400 transfers with balances (921,600 reply bytes) is held busy; a merged request of
// 8,189 (1,179,216 bytes) would pass the server's 2 MiB reply cache with it, so it waits
// in admit. Then a second Go request of 6,400 arrives: it fits beside the held one, but
// not beside the waiting merged request. Numbered at once, it overtook the merged
// request, and a stream of such requests could keep it (and every merged request queued
// behind it) waiting for as long as the stream lasts. It must wait behind the merged
// request: both are numbered once the held request is answered, the merged one first.
func TestWindowWaitersAreNumberedInArrivalOrder(t *testing.T) {
	server, busy := startBusyShardServer(t)
	c := dialTestClient(t, server.Address(), nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	transfers := func(first uint64, count int) []model.Transfer {
		events := make([]model.Transfer, count)
		for i := range events {
			events[i] = transfer(first+uint64(i), 1, 3, 1, 0)
		}
		return events
	}

	held := c.NextNumber()
	busy.held.Store(held)
	heldCall := c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
		encodeTransfers(transfers(10_000, 6400)), nil)
	waitFor(t, c, "the held request answered busy", func() bool {
		return c.pending[held] != nil && busy.refused.Load() > 0
	})

	merged, err := c.submit(ctx, coalesceKey{model.OperationCreateTransfers,
		requestFlagReplyBalances, 0}, encodeTransfers(transfers(20_000, 8189)), 8189, false)
	if err != nil {
		t.Fatal(err)
	}
	waitForGoroutine(t, "the merged request waiting for room in the window",
		"(*Client).admit(", "(*Client).waitInsideWindow(")

	laterCall := make(chan *Call, 1)
	go func() {
		laterCall <- c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
			encodeTransfers(transfers(30_000, 6400)), nil)
	}()
	// Either numbered at once (the overtaking) or waiting in the window: the goroutine
	// starting it waits in waitInsideWindow, or it is numbered (next passes the merged
	// request's number to come).
	deadline := time.Now().Add(waitLimit)
	for {
		c.mu.Lock()
		numbered := c.next > held+1
		c.mu.Unlock()
		stack := make([]byte, 1<<20)
		stack = stack[:runtime.Stack(stack, true)]
		if numbered || goroutineWaitingInWindow(string(stack)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the later Go request")
		}
		time.Sleep(time.Millisecond)
	}
	busy.held.Store(0)

	if _, err := heldCall.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := merged.wait(ctx); err != nil {
		t.Fatal(err)
	}
	later := <-laterCall
	if _, err := later.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if later.Number < merged.call.Number {
		t.Fatalf("the Go request that came second was numbered %d, before the merged "+
			"request waiting since before it (%d)", later.Number, merged.call.Number)
	}
}

// goroutineWaitingInWindow reports whether the stacks show this test's later Go request
// waiting for room in the exactly-once window.
func goroutineWaitingInWindow(stacks string) bool {
	for _, stack := range strings.Split(stacks, "\n\n") {
		if holdsEvery(stack, []string{"TestWindowWaitersAreNumberedInArrivalOrder.func",
			"(*Client).waitInsideWindow("}) {
			return true
		}
	}
	return false
}

// TestLeftMergedRequestStopsHoldingTheWindowQueue: a merged request waiting for room in
// the exactly-once window, first in line, whose every caller leaves is never numbered,
// so it must stop holding up the requests that wait behind it. The same set-up as
// TestWindowWaitersAreNumberedInArrivalOrder; once the Go request waits behind the
// merged one, the merged request's caller leaves (its context ends). The Go request fits
// beside the held one and must now be numbered, while the held one is still answered
// busy: waiting for that answer, it waited as long as the server kept refusing.
func TestLeftMergedRequestStopsHoldingTheWindowQueue(t *testing.T) {
	server, busy := startBusyShardServer(t)
	c := dialTestClient(t, server.Address(), nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	transfers := func(first uint64, count int) []byte {
		events := make([]model.Transfer, count)
		for i := range events {
			events[i] = transfer(first+uint64(i), 1, 3, 1, 0)
		}
		return encodeTransfers(events)
	}

	held := c.NextNumber()
	busy.held.Store(held)
	defer busy.held.Store(0) // Lets the held request be answered before the client closes.
	heldCall := c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
		transfers(10_000, 6400), nil)
	waitFor(t, c, "the held request answered busy", func() bool {
		return c.pending[held] != nil && busy.refused.Load() > 0
	})
	mergedContext, leaveMerged := context.WithCancel(ctx)
	merged, err := c.submit(mergedContext, coalesceKey{model.OperationCreateTransfers,
		requestFlagReplyBalances, 0}, transfers(20_000, 8189), 8189, false)
	if err != nil {
		t.Fatal(err)
	}
	waitForGoroutine(t, "the merged request waiting for room in the window",
		"(*Client).admit(", "(*Client).waitInsideWindow(")
	laterCall := make(chan *Call, 1)
	go func() {
		laterCall <- c.Go(ctx, model.OperationCreateTransfers, requestFlagReplyBalances,
			transfers(30_000, 6400), nil)
	}()
	waitForGoroutine(t, "the later Go request waiting for room in the window",
		"TestLeftMergedRequestStopsHoldingTheWindowQueue.func", "(*Client).waitInsideWindow(")

	leaveMerged()
	if _, err := merged.wait(mergedContext); err == nil {
		t.Fatal("the merged request's caller left, yet got a reply")
	}
	var later *Call
	select {
	case later = <-laterCall:
	case <-ctx.Done():
		t.Fatal("the Go request waited behind a merged request every caller had left")
	}
	if merged.call.Number != 0 {
		t.Fatalf("the merged request every caller left was numbered %d", merged.call.Number)
	}
	busy.held.Store(0)
	if _, err := heldCall.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := later.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
