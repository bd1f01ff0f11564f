package client

import (
	"log/slog"
	"net"
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
					c.report(&wire.Frame{Kind: wire.KindReport, Aux: 1}, 0)
				} else {
					c.marketData = &marketDataSubscription{
						handler: func(MarketDataEvent) { runtime.Goexit() }}
					c.marketDataFrame(&wire.Frame{Kind: wire.KindMarketData}, 0)
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

// TestHandlerLeavingByGoexitMarksTheConnectionLost: a report handler that leaves by
// runtime.Goexit ends the connection's reader goroutine inside handle. The connection
// must then be marked lost (closed, dropped, the reconnector woken), as when the reader
// returns on an error: otherwise it stays current with no one reading it, and every
// pending call waits for the silence timeout before the reconnect resends it. The
// reader runs on one end of a net.Pipe; the test writes a report to the other, waits
// for the reader's goroutine to end, and then looks at the client: no clock is read.
func TestHandlerLeavingByGoexitMarksTheConnectionLost(t *testing.T) {
	conn, peer := net.Pipe()
	defer peer.Close()
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		stop: make(chan struct{}), lost: make(chan struct{}, 1), conn: conn,
		generation: 1, readers: 1,
		subscription: &subscription{handler: func(Report) { runtime.Goexit() }}}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		c.read(conn, &wire.Decoder{}, 1)
	}()
	if _, err := peer.Write(wire.AppendFrame(nil,
		&wire.Frame{Kind: wire.KindReport, Aux: 1}, nil)); err != nil {
		t.Fatal(err)
	}
	<-ended
	c.mu.Lock()
	current, readers := c.conn, c.readers
	c.mu.Unlock()
	if current != nil {
		t.Fatal("the reader's goroutine ended by runtime.Goexit in a report handler, " +
			"and the connection is still the client's current one: not marked lost")
	}
	select {
	case <-c.lost:
	default:
		t.Fatal("the connection was dropped but the reconnector was not woken")
	}
	if readers != 0 {
		t.Fatalf("%d readers counted running after the reader's goroutine ended, want 0",
			readers)
	}
}
