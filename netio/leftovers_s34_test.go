package netio_test

// Session 34 leftovers (leftovers34): a connection closed by another goroutine while its
// event loop is inside its login or its pipelined frames must not act as logged in.

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// parkingAdmission admits everything (Controls with no limits) but, once armed, parks
// the event loop in the next AdmitLogin until release: the login is then between its
// signature check and its takeover of the session.
type parkingAdmission struct {
	*netio.Controls
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newParkingAdmission() *parkingAdmission {
	return &parkingAdmission{Controls: netio.NewControls(netio.ControlsConfig{}),
		entered: make(chan struct{}), release: make(chan struct{})}
}

func (a *parkingAdmission) AdmitLogin(client *netio.Client, remote net.Addr,
	takeover bool) wire.ErrorCode {
	if a.armed.CompareAndSwap(true, false) {
		close(a.entered)
		<-a.release
	}
	return a.Controls.AdmitLogin(client, remote, takeover)
}

func (a *parkingAdmission) open() { a.once.Do(func() { close(a.release) }) }

// TestLoginOverdueDuringLoginIsDecidedAfterIt: the ticker finds connection A's login
// overdue while A's loop is inside A's login (parked in AdmitLogin). Session 34 had the
// ticker close A there and then (login_timeout), and made the login that then completed
// stop quietly instead of taking session 9 over from its live holder P (whose close would
// have ended the session: SessionClosed, cancel-on-disconnect). Since session 35 the
// ticker only lends A's loop the check (loginOverdue), which runs after the login: A
// logged in before anything timed it out, so A takes the session over and stays, and
// the session never ends.
func TestLoginOverdueDuringLoginIsDecidedAfterIt(t *testing.T) {
	admission := newParkingAdmission()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.Admission = admission
		c.LoginTimeout = 50 * time.Millisecond
		c.HeartbeatInterval = 50 * time.Millisecond // Ticks every 5 ms.
		c.SilenceTimeout = time.Hour                // P stays silent meanwhile.
	}})
	// Registered after the harness, so it runs before the harness's shutdown: a failing
	// run must not leave the loop parked while the server waits for it.
	t.Cleanup(admission.open)
	const session = 9
	holder := dialLoggedIn(t, h.server.Address(), session) // Not timed out itself.
	overdue := make(chan struct{})
	var overdueOnce sync.Once
	// Set once P is logged in: A is the only connection whose login can be overdue.
	netio.SetTestHookLoginOverdue(t, func() { overdueOnce.Do(func() { close(overdue) }) })
	a := dialRaw(t, h.server.Address())
	admission.armed.Store(true)
	a.write(a.loginFrame(clientAll, 1, secretOne, session, wire.LoginCancelOnDisconnect))
	for _, wait := range []struct {
		event chan struct{}
		what  string
	}{{admission.entered, "A's login to reach AdmitLogin"},
		{overdue, "the ticker to find A's login overdue"}} {
		select {
		case <-wait.event:
		case <-time.After(waitLimit): // A hang guard, not a timing assertion.
			t.Fatal("gave up waiting for " + wait.what)
		}
	}
	admission.open()
	if frame := a.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("A's login: got %s (%s)", frame.Kind, wire.ErrorCode(frame.Status))
	}
	holder.expectError(wire.ErrorSessionTakenOver)
	// The check lent to A's loop ran before the heartbeat's write, which a later tick
	// queued: A is still open after it.
	frame, err := a.nextAny()
	if err != nil || frame.Kind != wire.KindHeartbeat {
		t.Fatalf("A after its login: got %s (%s), %v; want a heartbeat", frame.Kind,
			wire.ErrorCode(frame.Status), err)
	}
	a.write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := a.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("A: got %s (%s), want the reply to request 1", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
	if ends := h.backend.SessionEnds(); len(ends) != 0 {
		t.Fatalf("the backend saw sessions end: %+v", ends)
	}
	if stats := h.server.Stats(); stats.SilenceTimeouts != 0 || stats.LoginsAccepted != 2 {
		t.Fatalf("timeouts %d, logins accepted %d; want 0 and 2", stats.SilenceTimeouts,
			stats.LoginsAccepted)
	}
}

// TestTakenOverConnectionAppliesNoPipelinedFrame: B sends its login and a request in one
// write; B's loop is parked at the login's log record, after B took the session, while C
// (on the other loop) takes the session over from B. The request pipelined behind B's
// login must not be submitted once B is closing: its reply would be dropped. Before the
// fix drainFrames went on to submit it.
func TestTakenOverConnectionAppliesNoPipelinedFrame(t *testing.T) {
	gate := newLoopGate()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		// gnet's round robin puts connections 1 and 2 on loops 0 and 1.
		c.EventLoops = 2
		c.Logger = slog.New(gate)
	}})
	t.Cleanup(gate.open) // After the harness: runs before its shutdown (see above).
	const session = 9
	b := dialRaw(t, h.server.Address())
	c := dialRaw(t, h.server.Address())
	gate.armed.Store(true)
	pipelined := b.loginFrame(clientAll, 1, secretOne, session, 0)
	pipelined = append(pipelined,
		requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1))...)
	b.write(pipelined)
	select {
	case <-gate.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("B's login never reached its log record")
	}
	c.login(clientAll, 1, secretOne, session)
	gate.open()
	if frame := b.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("B's login: %s %s", frame.Kind, wire.ErrorCode(frame.Status))
	}
	b.expectError(wire.ErrorSessionTakenOver) // Not a reply first.
	if stats := h.server.Stats(); stats.RequestsSubmitted != 0 || stats.RepliesDropped != 0 {
		t.Fatalf("B's pipelined request: %d submitted, %d replies dropped; want 0 and 0",
			stats.RequestsSubmitted, stats.RepliesDropped)
	}
}
