package client

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// handlerOrderClient is a client whose report and market-data handlers log their calls
// ("start <kind> <n>", "end <kind> <n>"; n is the report's sequence or the update's op).
// The call for n == blockAt announces itself on entered and returns once release is
// closed; any other call announces itself on entered and returns at once. Frames are
// handed to it as the readers of connections 1 and 2 would (handle, with their
// generation): no socket, no clock.
type handlerOrderClient struct {
	c       *Client
	mu      sync.Mutex
	calls   []string
	entered chan string
	release chan struct{}
}

func newHandlerOrderClient(blockAt uint64) *handlerOrderClient {
	h := &handlerOrderClient{entered: make(chan string, 16), release: make(chan struct{})}
	h.c = &Client{log: slog.New(slog.DiscardHandler), generation: 1,
		stop: make(chan struct{}), pending: map[uint64]*Call{}}
	h.c.lifetime, h.c.endLifetime = context.WithCancel(context.Background())
	call := func(kind string, n uint64) {
		name := fmt.Sprintf("%s %d", kind, n)
		h.log("start " + name)
		h.entered <- name
		if n == blockAt {
			<-h.release
		}
		h.log("end " + name)
	}
	h.c.subscription = &subscription{handler: func(report Report) {
		call("report", report.Sequence)
	}}
	h.c.marketData = newMarketDataSubscription(func(event MarketDataEvent) {
		for _, update := range event.Updates {
			call("update", update.Op)
		}
	})
	h.c.marketData.instruments[1] = wire.ChannelBook
	return h
}

func (h *handlerOrderClient) log(call string) {
	h.mu.Lock()
	h.calls = append(h.calls, call)
	h.mu.Unlock()
}

// frame is a report of sequence n (kind report) or an update of op n (market data).
func handlerOrderFrame(kind wire.Kind, n uint64) *wire.Frame {
	if kind == wire.KindReport {
		return &wire.Frame{Kind: wire.KindReport, Aux: n}
	}
	body := make([]byte, model.MarketDataUpdateSize)
	(&model.MarketDataUpdate{Sequence: n, Instrument: 1, Op: n}).Encode(body)
	return &wire.Frame{Kind: wire.KindMarketData, Body: body}
}

// handleOn hands frame to the client as connection generation's reader does, on a
// goroutine of its own; the channel returned is closed once handle returned.
func (h *handlerOrderClient) handleOn(t *testing.T, frame *wire.Frame,
	generation uint64) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.c.handle(frame, generation); err != nil {
			t.Error(err)
		}
	}()
	return done
}

func installSecondConnection(c *Client) {
	c.mu.Lock()
	c.generation++ // What install does first: connection 2 is current.
	c.mu.Unlock()
}

// TestHandlersOfAReplacedConnectionReturnBeforeTheNewOnesStart: the reader of
// connection 1 is inside a handler (a report or an update) when connection 2 is
// installed, and connection 2's reader has a report or an update to hand over. The
// order of handler calls is the client's promise, not each connection's: connection 2's
// call must not start before connection 1's returned (before the fix it started at
// once, beside it, on the other reader's goroutine). The test sees connection 2's
// reader wait (testHookHandlerTurnWait) while connection 1's handler still runs, then
// releases that handler and finds the calls in order, never overlapping.
func TestHandlersOfAReplacedConnectionReturnBeforeTheNewOnesStart(t *testing.T) {
	kinds := []wire.Kind{wire.KindReport, wire.KindMarketData}
	for _, oldKind := range kinds {
		for _, newKind := range kinds {
			t.Run(oldKind.String()+"_then_"+newKind.String(), func(t *testing.T) {
				handlersInConnectionOrder(t, oldKind, newKind)
			})
		}
	}
}

func handlersInConnectionOrder(t *testing.T, oldKind, newKind wire.Kind) {
	h := newHandlerOrderClient(5)
	waiting := make(chan struct{}, 4)
	testHookHandlerTurnWait = func() { waiting <- struct{}{} }
	t.Cleanup(func() { testHookHandlerTurnWait = nil })
	oldDone := h.handleOn(t, handlerOrderFrame(oldKind, 5), 1)
	first := <-h.entered
	installSecondConnection(h.c)
	newDone := h.handleOn(t, handlerOrderFrame(newKind, 6), 2)
	select {
	case <-waiting:
	case second := <-h.entered:
		close(h.release)
		t.Fatalf("connection 2's handler call (%s) started while connection 1's (%s) "+
			"still ran", second, first)
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("connection 2's reader neither waited nor called its handler")
	}
	close(h.release)
	<-oldDone
	<-newDone
	want := []string{"start " + first, "end " + first}
	second := <-h.entered
	want = append(want, "start "+second, "end "+second)
	if !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %q, want %q", h.calls, want)
	}
	// Connection 1's reader, back from its handler with a frame still buffered, hands
	// nothing over once connection 2 has: its generation is not the current one.
	<-h.handleOn(t, handlerOrderFrame(oldKind, 7), 1)
	if len(h.calls) != len(want) {
		t.Fatalf("handler calls %q after connection 2's: connection 1's frame was "+
			"handed over", h.calls)
	}
}

// TestHandlerOfAReplacedConnectionMayCloseWhileTheNewReaderWaits: the wait for the
// turn holds no lock and ends with the client. Connection 1's handler calls Close while
// connection 2's reader waits for it to return: Close returns (it does not wait for
// that reader, which is not in a handler, beyond its noticing the close), the waiting
// reader returns without calling the handler, and no handler is counted running.
func TestHandlerOfAReplacedConnectionMayCloseWhileTheNewReaderWaits(t *testing.T) {
	h := newHandlerOrderClient(0)
	waiting := make(chan struct{}, 4)
	testHookHandlerTurnWait = func() { waiting <- struct{}{} }
	t.Cleanup(func() { testHookHandlerTurnWait = nil })
	closed := make(chan error, 1)
	h.c.subscription.handler = func(Report) {
		h.log("start report")
		h.entered <- "report 1"
		select { // Connection 2's reader waits for this call to return,
		case <-waiting:
		case <-h.entered: // or, without the wait, calls its handler (failed below).
		}
		closed <- h.c.Close()
		h.log("end report")
	}
	oldDone := h.handleOn(t, handlerOrderFrame(wire.KindReport, 1), 1)
	<-h.entered
	installSecondConnection(h.c)
	newDone := h.handleOn(t, handlerOrderFrame(wire.KindMarketData, 2), 2)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close returned %v", err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("Close inside connection 1's handler never returned")
	}
	<-oldDone
	<-newDone
	if want := []string{"start report", "end report"}; !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %q, want %q: no handler after Close", h.calls, want)
	}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.c.handlers != 0 {
		t.Fatalf("%d handlers counted running, want 0", h.c.handlers)
	}
}

// TestHandlerOfAReplacedConnectionMaySubscribeWhileTheNewReaderWaits: connection 1's
// market-data handler subscribes to another instrument and waits for the answer; the
// connection is replaced meanwhile, so the answer is the resumption's on connection 2,
// whose reader also has an update to hand over. Its md_subscribed is applied without
// waiting for connection 1's handler (the caller inside it is answered, and returns),
// and the answer's event and the update reach the handler only after that call.
func TestHandlerOfAReplacedConnectionMaySubscribeWhileTheNewReaderWaits(t *testing.T) {
	h := newHandlerOrderClient(0)
	s := h.c.marketData
	answered := make(chan error, 1)
	s.handler = func(event MarketDataEvent) {
		switch {
		case event.Subscribed != nil:
			h.log(fmt.Sprintf("subscribed %d", event.Subscribed.Instrument))
		case event.Updates[0].Op == 1:
			h.log("start update 1")
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			_, err := h.c.SubscribeMarketData(ctx, 9, wire.ChannelBook, nil)
			answered <- err
			h.log("end update 1")
		default:
			h.log(fmt.Sprintf("update %d", event.Updates[0].Op))
		}
	}
	oldDone := h.handleOn(t, handlerOrderFrame(wire.KindMarketData, 1), 1)
	waitForMarketDataWaiters(h.c, s, 9, 1)
	resumed := resumedMarketData(h.c) // Connection 2; instrument 9 adopted.
	<-h.handleOn(t, marketDataSubscribedFrame(9, wire.ChannelBook, resumed[9].FromOp), 2)
	if err := <-answered; err != nil {
		t.Fatalf("SubscribeMarketData inside connection 1's handler returned %v", err)
	}
	<-oldDone
	<-h.handleOn(t, handlerOrderFrame(wire.KindMarketData, 2), 2)
	want := []string{"start update 1", "end update 1", "subscribed 9", "update 2"}
	if !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %q, want %q", h.calls, want)
	}
}

// TestGapCallbackOfAReplacedConnectionWaitsForTheRunningHandler: connection 1's reader
// applies a resumption's answer that finds reports lost (5 to 7), and connection 2 is
// installed before it tells them (testHookAnswerApplied); connection 2's reader is
// inside the market-data handler by then. The gap is the subscription's, and its
// callback is counted with connection 2, whichever reader tells it; but handler calls
// run one at a time per client, so ReportsLost starts only once that handler returned
// (one counted per connection would have run beside it).
func TestGapCallbackOfAReplacedConnectionWaitsForTheRunningHandler(t *testing.T) {
	h := newHandlerOrderClient(6)
	h.c.subscription = &subscription{handler: func(Report) {}, lastSeen: 4, askedFrom: 5,
		callerFrom: 1, established: true, ready: make(chan Subscribed, 1),
		status: make(chan error, 1)}
	h.c.config.ReportsLost = func(first, last uint64) {
		name := fmt.Sprintf("lost %d-%d", first, last)
		h.log("start " + name)
		h.entered <- name
		h.log("end " + name)
	}
	waiting := make(chan struct{}, 4)
	testHookHandlerTurnWait = func() { waiting <- struct{}{} }
	var newDone chan struct{}
	installed := make(chan struct{})
	testHookAnswerApplied = func(wire.Kind) {
		installSecondConnection(h.c)
		newDone = h.handleOn(t, handlerOrderFrame(wire.KindMarketData, 6), 2)
		<-h.entered // Connection 2's handler runs (until released).
		close(installed)
	}
	t.Cleanup(func() { testHookHandlerTurnWait, testHookAnswerApplied = nil, nil })
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: 8}).Encode(body)
	oldDone := h.handleOn(t, &wire.Frame{Kind: wire.KindSubscribed, Body: body}, 1)
	<-installed
	select {
	case <-waiting:
	case name := <-h.entered:
		close(h.release)
		t.Fatalf("%s started while connection 2's market-data handler ran", name)
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatal("the gap was neither told nor waiting")
	}
	close(h.release)
	<-oldDone
	<-newDone
	want := []string{"start update 6", "end update 6", "start lost 5-7", "end lost 5-7"}
	if !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %q, want %q", h.calls, want)
	}
}
