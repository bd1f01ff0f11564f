package netio_test

// Review of session 34's error-frame changes (reviewnetio34): the session an error frame
// carries when a session is taken over while its holder's own login is still running on
// another event loop.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/wire"
)

// loopGate is a slog handler whose Enabled, which the server calls on the goroutine that
// logs (an event loop), blocks the first info-level call after arm until release: a
// test parks one event loop at a chosen log call and acts on the other meanwhile. Every
// record is discarded.
type loopGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newLoopGate() *loopGate {
	return &loopGate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *loopGate) Enabled(_ context.Context, level slog.Level) bool {
	if level == slog.LevelInfo && g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return true
}

func (g *loopGate) Handle(context.Context, slog.Record) error { return nil }
func (g *loopGate) WithAttrs([]slog.Attr) slog.Handler        { return g }
func (g *loopGate) WithGroup(string) slog.Handler             { return g }
func (g *loopGate) open()                                     { g.once.Do(func() { close(g.release) }) }

// TestTakeoverDuringLoginCarriesSession: PROTOCOL.md section 4, error: "session = the
// connection's session once logged in". Connection A logs in to session 9, held by P,
// on a second event loop; A's loop is parked inside its login, after A was published as
// the session's holder (taking P over) and before the login finished. Meanwhile B, on
// the first loop, logs in to session 9 and takes A over. A's login then completes
// (login_accepted), so A was logged in, and its session_taken_over must carry session 9.
// Before the fix it carried 0: the login published the connection in the session table
// before storing active true, and closeAsync reads the session only once it sees active
// true. (Found by a stress run: 15 of 1,200 takeovers on two loops carried 0.)
func TestTakeoverDuringLoginCarriesSession(t *testing.T) {
	gate := newLoopGate()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		// gnet's round robin puts connections 1, 2, 3 on loops 0, 1, 0.
		c.EventLoops = 2
		c.Logger = slog.New(gate)
	}})
	// Registered after the harness, so it runs before the harness's shutdown: a failing
	// run must not leave the loop parked while the server waits for it.
	t.Cleanup(gate.open)
	const session = 9
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, session)
	a := dialRaw(t, h.server.Address())
	gate.armed.Store(true)
	// A's login takes P over: closeAsync(P) logs, which parks A's loop there.
	a.write(a.loginFrame(clientAll, 1, secretOne, session, 0))
	select {
	case <-gate.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("the second connection's login never reached the takeover")
	}
	b := dialRaw(t, h.server.Address())
	b.login(clientAll, 1, secretOne, session)
	gate.open()
	if frame := a.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("A's login: %s %s", frame.Kind, wire.ErrorCode(frame.Status))
	}
	if frame := a.expectErrorFrame(wire.ErrorSessionTakenOver); frame.Session != session {
		t.Fatalf("A, logged in and then taken over: session_taken_over carries session %d, "+
			"want %d", frame.Session, session)
	}
	if frame := holder.expectErrorFrame(wire.ErrorSessionTakenOver); frame.Session != session {
		t.Fatalf("P: session_taken_over carries session %d, want %d", frame.Session, session)
	}
}
