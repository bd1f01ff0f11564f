package netio_test

// Session 35 review (reviewnetio35): the login timeout decided on the connection's loop
// must still be enforced for connections that never log in while that loop is stalled,
// and a stalled loop must not collect one check per connection per tick.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestLoginTimeoutOnStalledLoopLendsOnceAndStillCloses: loop 0 is parked inside X's
// login (AdmitLogin) while X and two connections that never log in (P1, P2) are overdue.
// The ticker lends each of them one check, queued behind the stall; later ticks lend no
// more (the loop's queue must not grow by one task per connection per tick). Once the
// loop resumes, X (whose login came first) stays, and P1 and P2 are still closed with
// login_timeout: the check queued behind the stall is not lost.
func TestLoginTimeoutOnStalledLoopLendsOnceAndStillCloses(t *testing.T) {
	admission := newParkingAdmission()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.EventLoops = 2 // Round robin: connections 1, 2, 3, 4, 5 on loops 0, 1, 0, 1, 0.
		c.Admission = admission
		c.LoginTimeout = 50 * time.Millisecond
		c.HeartbeatInterval = 50 * time.Millisecond // Ticks every 5 ms.
		c.SilenceTimeout = time.Hour                // Nothing is closed for silence.
	}})
	// Registered after the harness: they run before its shutdown, so a failing run
	// leaves neither the loop nor the ticker parked.
	t.Cleanup(admission.open)
	var lent atomic.Int64
	var parkTicker atomic.Bool
	tickerParked, tickerRelease := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseTicker := func() { releaseOnce.Do(func() { close(tickerRelease) }) }
	parkTicker.Store(true)
	// The ticker parks at the first overdue login it finds, before lending its check:
	// meanwhile H and D log in and X's login parks loop 0, with no check lent yet.
	netio.SetTestHookLoginOverdue(t, func() {
		lent.Add(1)
		if parkTicker.CompareAndSwap(true, false) {
			close(tickerParked)
			<-tickerRelease
		}
	})
	t.Cleanup(releaseTicker)
	const session, otherSession = 9, 10
	x := dialRaw(t, h.server.Address())  // Loop 0.
	hb := dialRaw(t, h.server.Address()) // Loop 1: its heartbeats witness the ticks.
	p1 := dialRaw(t, h.server.Address()) // Loop 0, never logs in.
	d := dialRaw(t, h.server.Address())  // Loop 1.
	p2 := dialRaw(t, h.server.Address()) // Loop 0, never logs in.
	wait := func(event chan struct{}, what string) {
		t.Helper()
		select {
		case <-event:
		case <-time.After(waitLimit): // A hang guard, not a timing assertion.
			t.Fatal("gave up waiting for " + what)
		}
	}
	wait(tickerParked, "the ticker to find a login overdue")
	hb.login(clientAll, 1, secretOne, session)
	d.login(clientAll, 1, secretOne, otherSession)
	admission.armed.Store(true)
	x.write(x.loginFrame(clientAll, 1, secretOne, session+2, 0))
	wait(admission.entered, "X's login to park loop 0")
	releaseTicker()
	heartbeats := func(count int) {
		t.Helper()
		for range count {
			if kind, code := nextFrameKind(t, hb); kind != wire.KindHeartbeat {
				t.Fatalf("H: got %s (%s), want a heartbeat", kind, code)
			}
		}
	}
	// Two heartbeats: the second comes from a tick after the one the hook parked, which
	// has then lent every overdue connection its check.
	heartbeats(2)
	lentAfterFirstTicks := lent.Load()
	if lentAfterFirstTicks < 3 {
		t.Fatalf("checks lent %d, want at least X, P1 and P2", lentAfterFirstTicks)
	}
	heartbeats(3) // Later ticks, with loop 0 still parked.
	if lentNow := lent.Load(); lentNow != lentAfterFirstTicks {
		t.Fatalf("checks lent %d then %d with loop 0 parked: lent again", lentAfterFirstTicks,
			lentNow)
	}
	admission.open()
	if frame := x.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("X's login: got %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	p1.expectError(wire.ErrorLoginTimeout)
	p2.expectError(wire.ErrorLoginTimeout)
	x.write(requestFrame(session+2, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := x.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("X: got %s (%s), want the reply to request 1", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
	if stats := h.server.Stats(); stats.SilenceTimeouts != 2 || stats.LoginsAccepted != 3 {
		t.Fatalf("timeouts %d, logins accepted %d; want 2 (P1, P2) and 3 (H, D, X)",
			stats.SilenceTimeouts, stats.LoginsAccepted)
	}
}

// TestLoginStalledPastTheSilenceTimeoutIsNotSilent: X's login parks its loop (AdmitLogin)
// for longer than SilenceTimeout. The stall is the server's, not X's silence: once X is
// logged in, the ticker must not close it for silence_timeout (which would end the
// session it has just taken, with cancel-on-disconnect, under a live client). Its silence
// clock starts again at the login, so the next frame X gets is a heartbeat.
func TestLoginStalledPastTheSilenceTimeoutIsNotSilent(t *testing.T) {
	admission := newParkingAdmission()
	const silence = 500 * time.Millisecond
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.Admission = admission
		c.LoginTimeout = time.Hour
		c.HeartbeatInterval = 20 * time.Millisecond // Ticks every 2 ms.
		c.SilenceTimeout = silence
	}})
	t.Cleanup(admission.open)
	x := dialRaw(t, h.server.Address())
	admission.armed.Store(true)
	x.write(x.loginFrame(clientAll, 1, secretOne, 9, 0))
	select {
	case <-admission.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("gave up waiting for X's login to park its loop")
	}
	// Not a timing assertion: the sleep makes X's last receipt older than the silence
	// timeout by the time its login completes, whatever the scheduler does.
	time.Sleep(2 * silence)
	admission.open()
	if frame := x.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("X's login: got %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	if kind, code := nextFrameKind(t, x); kind != wire.KindHeartbeat {
		t.Fatalf("X after its login: got %s (%s), want a heartbeat", kind, code)
	}
	if timeouts := h.server.Stats().SilenceTimeouts; timeouts != 0 {
		t.Fatalf("silence timeouts %d, want 0", timeouts)
	}
}

// TestStalledLoopDoesNotCloseConnectionsThatSpoke: P is logged in and keeps sending
// heartbeats while its loop is parked (inside X's login, AdmitLogin) for longer than
// SilenceTimeout. P's bytes wait unread in the kernel: P is not silent, the loop is
// stalled. P must not be closed for silence_timeout (ending its session, with
// cancel-on-disconnect, under a live client): the ticker only lends the loop the check,
// which looks at the socket as well as at the last read.
func TestStalledLoopDoesNotCloseConnectionsThatSpoke(t *testing.T) {
	admission := newParkingAdmission()
	const silence = 300 * time.Millisecond
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.EventLoops = 1
		c.Admission = admission
		c.LoginTimeout = time.Hour
		c.HeartbeatInterval = 20 * time.Millisecond // Ticks every 2 ms.
		c.SilenceTimeout = silence
	}})
	t.Cleanup(admission.open)
	const session, otherSession = 9, 11
	p := dialRaw(t, h.server.Address())
	p.login(clientAll, 1, secretOne, session)
	x := dialRaw(t, h.server.Address())
	admission.armed.Store(true)
	x.write(x.loginFrame(clientAll, 1, secretOne, otherSession, 0))
	select {
	case <-admission.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("gave up waiting for X's login to park the loop")
	}
	// P speaks every silence/6 for three silence timeouts while the loop is parked: not
	// a timing assertion, the waits only make the loop's last read of P older than the
	// timeout whatever the scheduler does.
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	for range 18 {
		p.write(heartbeat)
		time.Sleep(silence / 6)
	}
	admission.open()
	if frame := x.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("X's login: got %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	p.write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := p.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("P after the stall: got %s (%s), want the reply to request 1", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
	if timeouts := h.server.Stats().SilenceTimeouts; timeouts != 0 {
		t.Fatalf("silence timeouts %d, want 0", timeouts)
	}
}

// parkingTurnBackend is the fake shard with inline turns on whose TurnInline parks (once
// armed) until released: a loop stalled inside its turn task, as on a stalled disk.
type parkingTurnBackend struct {
	*fakeshard.Backend
	armed            atomic.Bool
	entered, release chan struct{}
}

func (b *parkingTurnBackend) InlineTurns() bool { return true }

func (b *parkingTurnBackend) SubmitDeferred(request *backend.Request) model.Status {
	return b.Backend.Submit(request)
}

func (b *parkingTurnBackend) TurnInline() {
	if b.armed.CompareAndSwap(true, false) {
		close(b.entered)
		<-b.release
	}
}

// TestLoopStalledInATaskDoesNotCloseConnectionsThatSpoke: as above, but the loop stalls
// inside a task (the inline turn), so gnet runs the check lent meanwhile in the same
// round of tasks, before it reads what P sent during the stall: the check must look at
// the socket, not only at the last read.
func TestLoopStalledInATaskDoesNotCloseConnectionsThatSpoke(t *testing.T) {
	parking := &parkingTurnBackend{entered: make(chan struct{}), release: make(chan struct{})}
	const silence = 300 * time.Millisecond
	h := newHarness(t, harnessOptions{
		config: func(c *netio.Config) {
			c.EventLoops = 1
			c.HeartbeatInterval = 20 * time.Millisecond // Ticks every 2 ms.
			c.SilenceTimeout = silence
		},
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			parking.Backend = fake
			return parking
		},
	})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(parking.release) }) }
	t.Cleanup(release)
	const session = 9
	p := dialRaw(t, h.server.Address())
	p.login(clientAll, 1, secretOne, session)
	parking.armed.Store(true)
	p.write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
	select {
	case <-parking.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("gave up waiting for the turn to park the loop")
	}
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	for range 18 { // Not a timing assertion: see the test above.
		p.write(heartbeat)
		time.Sleep(silence / 6)
	}
	release()
	for number := uint64(1); number <= 2; number++ {
		if number == 2 {
			p.write(requestFrame(session, 2, model.OperationLookupAccounts, encodeIDs(1)))
		}
		if frame := p.next(); frame.Kind != wire.KindReply || frame.Number != number {
			t.Fatalf("P after the stall: got %s (%s), want the reply to request %d",
				frame.Kind, wire.ErrorCode(frame.Status), number)
		}
	}
	if timeouts := h.server.Stats().SilenceTimeouts; timeouts != 0 {
		t.Fatalf("silence timeouts %d, want 0", timeouts)
	}
}
