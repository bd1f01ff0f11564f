package client

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// reportThenBlockConn is a connection whose first Read returns a report frame (at once,
// or once closed when afterClose is set: read as Close ran) and whose later Reads block
// until Close, then fail. Writes (the logout) succeed.
type reportThenBlockConn struct {
	net.Conn   // Unused methods; nil.
	report     []byte
	afterClose bool
	closed     chan struct{}
	once       sync.Once
	reported   bool
}

func (r *reportThenBlockConn) Read(buffer []byte) (int, error) {
	if !r.reported {
		if r.afterClose {
			<-r.closed
		}
		r.reported = true
		return copy(buffer, r.report), nil
	}
	<-r.closed
	return 0, net.ErrClosed
}

func (r *reportThenBlockConn) Write(buffer []byte) (int, error) { return len(buffer), nil }
func (r *reportThenBlockConn) SetWriteDeadline(time.Time) error { return nil }
func (r *reportThenBlockConn) Close() error                     { r.once.Do(func() { close(r.closed) }); return nil }
func (r *reportThenBlockConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// TestCloseWithAHandlerWaitingForAReplyReturns: a report handler waits for a call's
// reply (against the advice of Subscribe's doc; a handler that places an order in
// answer to a fill and waits for it is the natural way to write one). The reader is
// blocked in that handler, and the reply never comes. Close failed the pending calls
// first, which released the handler (its call ended with an *OutcomeUnknownError) and
// with it the reader, and returned; once Close waited for the reader before failing the
// calls, the handler waited for Close and Close for the handler, for ever: Close must
// never hang. Two cases: the handler runs when Close starts ("running"), or the report
// is read as Close closes the connection ("entered": it entered the handler while Close
// waited for the reader, and hung so; now no handler is called once Close has begun, so
// the report is dropped and the call fails all the same). Run in a synctest bubble: the
// hang guard below fires at once, on the bubble's clock, when every goroutine is
// blocked.
func TestCloseWithAHandlerWaitingForAReplyReturns(t *testing.T) {
	for _, afterClose := range []bool{false, true} {
		name := map[bool]string{false: "running", true: "entered"}[afterClose]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { closeWithAWaitingHandler(t, afterClose) })
		})
	}
}

func closeWithAWaitingHandler(t *testing.T, afterClose bool) {
	conn := &reportThenBlockConn{closed: make(chan struct{}), afterClose: afterClose,
		report: wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReport, Aux: 1}, nil)}
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: conn,
		generation: 1, silence: time.Minute, logoutSeen: make(chan struct{})}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	close(c.logoutSeen) // Close waits for no acknowledgement.
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{}), client: c, frame: []byte("request 1")}
	handlerContext, releaseHandler := context.WithCancel(context.Background())
	defer releaseHandler()
	handlerEntered := make(chan struct{})
	handlerErr := make(chan error, 1)
	c.subscription = &subscription{handler: func(Report) {
		close(handlerEntered)
		_, err := call.Wait(handlerContext) // Placed in answer to the report.
		handlerErr <- err
	}}
	c.mu.Lock()
	c.pending[1] = call
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0] // A writer took it.
	c.startReaderLocked(conn, &wire.Decoder{})
	c.mu.Unlock()
	if !afterClose {
		<-handlerEntered
	}
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitLimit): // The bubble's clock: at once if all are blocked.
		t.Errorf("Close hangs: it waits for the reader, blocked in a report handler " +
			"waiting for a reply that Close no longer fails first")
		releaseHandler() // Let the bubble's goroutines end.
		<-closed
	}
	if afterClose {
		synctest.Wait() // The reader has returned, the report read.
		select {
		case <-handlerEntered:
			t.Fatal("a report read after Close began was handed to the handler")
		default:
		}
		if _, err := call.Wait(context.Background()); err == nil {
			t.Fatal("the call, never answered, succeeded")
		}
		return
	}
	if err := <-handlerErr; err == nil {
		t.Fatal("the handler's call, never answered, succeeded")
	}
}
