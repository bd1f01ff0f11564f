package client

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestCloseInsideAHandlerReturns: a report or market-data handler calls Close (an
// application stopping on a fill, or on a stale book). The handler runs on the
// connection's reader goroutine, and Close used to wait for every goroutine of the
// client, that reader among them: it waited for itself, for ever. Close must return,
// fail the pending write (an *OutcomeUnknownError wrapping ErrClosed: it was written and
// not answered), not wait for a logout acknowledgement that only this very goroutine
// could read (the bubble's clock does not move), and call no handler again: the
// connection returns two frames at once, and the second must be dropped. Run in a
// synctest bubble: the hang guard fires at once, on the bubble's clock, when every
// goroutine is blocked (before the fix the bubble then ends in a deadlock failure, as
// the hung Close can never be released).
func TestCloseInsideAHandlerReturns(t *testing.T) {
	for _, kind := range []wire.Kind{wire.KindReport, wire.KindMarketData} {
		t.Run(kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { closeInsideAHandler(t, kind) })
		})
	}
}

func closeInsideAHandler(t *testing.T, kind wire.Kind) {
	frames := wire.AppendFrame(nil, &wire.Frame{Kind: kind, Aux: 1}, nil)
	frames = wire.AppendFrame(frames, &wire.Frame{Kind: kind, Aux: 2}, nil)
	conn := &reportThenBlockConn{closed: make(chan struct{}), report: frames}
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: conn,
		generation: 1, silence: time.Minute, logoutSeen: make(chan struct{})}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{}), client: c, frame: []byte("request 1")}
	var handled atomic.Int32
	closed := make(chan error, 1)
	closeTook := make(chan time.Duration, 1)
	handler := func() {
		if handled.Add(1) > 1 {
			return // Called again after Close: counted, checked below.
		}
		start := time.Now()
		closed <- c.Close()
		closeTook <- time.Since(start)
	}
	if kind == wire.KindReport {
		c.subscription = &subscription{handler: func(Report) { handler() }}
	} else {
		c.marketData = &marketDataSubscription{handler: func(MarketDataEvent) { handler() }}
	}
	c.mu.Lock()
	c.pending[1] = call
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0] // A writer took it.
	c.startReaderLocked(conn, &wire.Decoder{})
	c.mu.Unlock()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close inside the handler: %v", err)
		}
	case <-time.After(waitLimit): // The bubble's clock: at once if all are blocked.
		t.Fatal("Close called inside a handler hangs: it waits for the reader it runs on")
	}
	if took := <-closeTook; took != 0 {
		t.Errorf("Close inside the handler took %s of the bubble's clock, want 0: it "+
			"waited for a logout acknowledgement its own goroutine would read", took)
	}
	var outcomeUnknown *OutcomeUnknownError
	if _, err := call.Wait(context.Background()); !errors.As(err, &outcomeUnknown) ||
		!errors.Is(err, ErrClosed) {
		t.Errorf("the write on its way when Close ran: %v, want an *OutcomeUnknownError "+
			"wrapping ErrClosed", err)
	}
	synctest.Wait() // The reader has returned: its connection is closed.
	if calls := handled.Load(); calls != 1 {
		t.Errorf("the handler was called %d times, want 1: none after Close", calls)
	}
}
