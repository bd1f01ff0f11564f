package client

import (
	"log/slog"
	"runtime"
	"testing"

	"sequent/netio/wire"
)

// TestHandlerLeavingByGoexitIsCountedOut: a report or market-data handler leaves by
// runtime.Goexit (t.Fatal inside a handler in an application's test, or a handler that
// ends its goroutine on purpose). The client counts handlers running (enterHandlerLocked)
// so that Close neither waits for a reader running one nor for a logout acknowledgement
// only that reader could read; a count left raised makes every later Close skip the
// logout acknowledgement, and shutdown stop waiting for a reader that runs no handler
// (its buffered replies then fail as unknown, where they would have completed their
// calls). The count must be back to zero once the handler's goroutine has ended, however
// the handler left.
func TestHandlerLeavingByGoexitIsCountedOut(t *testing.T) {
	for _, kind := range []wire.Kind{wire.KindReport, wire.KindMarketData} {
		t.Run(kind.String(), func(t *testing.T) {
			c := &Client{log: slog.New(slog.DiscardHandler)}
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				if kind == wire.KindReport {
					c.subscription = &subscription{handler: func(Report) { runtime.Goexit() }}
					c.report(&wire.Frame{Kind: wire.KindReport, Aux: 1})
				} else {
					s := &marketDataSubscription{
						handler: func(MarketDataEvent) { runtime.Goexit() }}
					c.handMarketData(s, MarketDataEvent{})
				}
			}()
			<-ended
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.handlers != 0 {
				t.Fatalf("%d handlers counted running after the handler's goroutine ended "+
					"by runtime.Goexit, want 0", c.handlers)
			}
		})
	}
}
