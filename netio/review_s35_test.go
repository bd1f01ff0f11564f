package netio_test

// Session 35 review (reviewnetio35): the login timeout decided on the connection's loop
// must still be enforced for connections that never log in while that loop is stalled,
// and a stalled loop must not collect one check per connection per tick.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
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
