package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// unknownOutcomeFixture is a client with one pending write (number 1) on a connection
// whose peer end counts the copies of it written there, for the tests of what a resend's
// refusal does to a write whose outcome is unknown.
type unknownOutcomeFixture struct {
	c       *Client
	call    *Call
	written chan struct{} // One value per copy of the request read by the peer.
}

const unknownOutcomeFrame = "request 1"

// newUnknownOutcomeFixture makes the fixture, with busyRetryDelay as the client's
// setting. With unknown "lost" the first copy's reply is lost with its connection and
// the reconnect resends it (the state install leaves); with "outcome_unknown" the
// server answers the first copy so (and a resend follows, as it must); with "none" the
// first copy is on its way, nothing has happened to it yet.
func newUnknownOutcomeFixture(t *testing.T, busyRetryDelay time.Duration,
	unknown string) *unknownOutcomeFixture {
	return newUnknownOutcomeFixtureOf(t, model.OperationCreateTransfers, busyRetryDelay,
		unknown)
}

// newUnknownOutcomeFixtureOf is newUnknownOutcomeFixture for a request of operation.
func newUnknownOutcomeFixtureOf(t *testing.T, operation model.Operation,
	busyRetryDelay time.Duration, unknown string) *unknownOutcomeFixture {
	t.Helper()
	first, firstPeer := net.Pipe()
	current, currentPeer := net.Pipe()
	for _, end := range []net.Conn{first, firstPeer, current, currentPeer} {
		t.Cleanup(func() { end.Close() })
	}
	f := &unknownOutcomeFixture{written: make(chan struct{}, 16)}
	go func() {
		buffer := make([]byte, len(unknownOutcomeFrame))
		for {
			if _, err := currentPeer.Read(buffer); err != nil {
				return
			}
			f.written <- struct{}{}
		}
	}()
	f.c = &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: current,
		generation: 2, silence: waitLimit, // The write deadline: a hang guard only.
		config: Config{BusyRetryDelay: busyRetryDelay}}
	f.call = &Call{Operation: operation, Number: 1,
		complete: make(chan struct{}), client: f.c, frame: []byte(unknownOutcomeFrame)}
	c, call := f.c, f.call
	t.Cleanup(func() {
		c.mu.Lock()
		c.closed = true // Resends still scheduled do nothing.
		c.mu.Unlock()
	})
	c.mu.Lock()
	c.pending[1] = call
	if unknown == "lost" {
		c.conn, c.generation = first, 1
	}
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0] // A writer took it.
	if unknown == "lost" {
		c.lostLocked(1, errors.New("connection ended")) // The reply is lost.
		c.conn, c.generation = current, 2               // Reconnected.
		c.queueLocked(call, call.frame)                 // install resent it.
		c.outbox = c.outbox[:0]
	}
	c.mu.Unlock()
	if unknown == "outcome_unknown" {
		f.answer(model.StatusOutcomeUnknown)
		f.expectResent(t, "outcome_unknown")
	}
	return f
}

// answer delivers the server's reply with status to the current copy.
func (f *unknownOutcomeFixture) answer(status model.Status) {
	f.c.complete(&wire.Frame{Kind: wire.KindReply, Operation: f.call.Operation, Number: 1,
		Status: uint32(status)}, f.c.generation)
}

// expectResent waits (a hang guard, not a timing assertion) for the next copy of the
// request on the current connection, the call still pending and its caller waiting.
func (f *unknownOutcomeFixture) expectResent(t *testing.T, after string) {
	t.Helper()
	select {
	case <-f.call.complete:
		t.Fatalf("after %s the write was handed to its caller: %v status %s", after,
			f.call.Err, f.call.Reply.Status)
	default:
	}
	select {
	case <-f.written:
	case <-time.After(waitLimit):
		t.Fatalf("after %s the write was not resent", after)
	}
}

// expectDefiniteReply delivers a definite reply (ok, duplicate) to the current copy and
// checks that the caller gets it.
func (f *unknownOutcomeFixture) expectDefiniteReply(t *testing.T) {
	t.Helper()
	f.c.complete(&wire.Frame{Kind: wire.KindReply, Operation: f.call.Operation, Number: 1,
		Flags: wire.ReplyFlagDuplicate}, f.c.generation)
	reply, err := f.waitBounded()
	if err != nil || !reply.Duplicate {
		t.Fatalf("the definite reply: %v %+v, want ok, duplicate", err, reply)
	}
}

// waitBounded waits for the caller's reply, for at most waitLimit (a hang guard: a call
// wrongly kept pending and resent fails the test instead of hanging it).
func (f *unknownOutcomeFixture) waitBounded() (*Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return f.call.Wait(ctx)
}

// expectRefused checks that the caller got a *StatusError with status (what: the case).
func (f *unknownOutcomeFixture) expectRefused(t *testing.T, status model.Status,
	what string) {
	t.Helper()
	var statusError *StatusError
	if _, err := f.waitBounded(); !errors.As(err, &statusError) ||
		statusError.Status != status {
		t.Fatalf("%s: %v, want a *StatusError %s", what, err, status)
	}
}

// expectOutcomeUnknown checks that the caller got an *OutcomeUnknownError for number 1
// naming the resend's refusal status, never a *StatusError, and that the call left the
// pending set (a final answer: no resend into a refusal for good).
func (f *unknownOutcomeFixture) expectOutcomeUnknown(t *testing.T, status model.Status) {
	t.Helper()
	_, err := f.waitBounded()
	var outcomeUnknown *OutcomeUnknownError
	var statusError *StatusError
	if errors.As(err, &statusError) || !errors.As(err, &outcomeUnknown) ||
		outcomeUnknown.Status != status || outcomeUnknown.Number != 1 {
		t.Fatalf("a write of unknown outcome whose resend was answered %s: %v, want "+
			"*OutcomeUnknownError", status, err)
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if f.c.pending[1] != nil {
		t.Fatalf("the write is still pending after the final answer %s", status)
	}
}

// TestUnknownOutcomeThenBusyWithRetriesOffIsResent: with busy retries off (a negative
// BusyRetryDelay) busy and log_unavailable go back to the caller, for it to decide. But
// for a write an earlier copy of which may have been applied (its reply lost with a
// connection, or answered outcome_unknown), a resend's busy or log_unavailable says
// nothing of that copy: both refuse the resend before its number is looked up
// (PROTOCOL.md §6), and outcome_unknown says nothing either. Handed to the caller, busy
// reads as "not applied, nothing queued" for a write that may be applied. The call must
// stay pending and be resent until a definite reply (Config.BusyRetryDelay, PROTOCOL.md
// §7), which the caller then gets. A write answered busy with nothing lost still goes to
// its caller as busy.
func TestUnknownOutcomeThenBusyWithRetriesOffIsResent(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		for _, refusal := range []model.Status{model.StatusBusy, model.StatusLogUnavailable,
			model.StatusOutcomeUnknown} {
			t.Run(unknown+"/"+refusal.String(), func(t *testing.T) {
				f := newUnknownOutcomeFixture(t, -1, unknown)
				f.answer(refusal)
				f.expectResent(t, refusal.String())
				f.expectDefiniteReply(t)
			})
		}
	}
	t.Run("nothing_lost", func(t *testing.T) {
		f := newUnknownOutcomeFixture(t, -1, "none")
		f.answer(model.StatusBusy)
		f.expectRefused(t, model.StatusBusy, "busy with retries off and nothing lost")
	})
}

// TestUnknownOutcomeThenPermissionDeniedIsNotARefusal: the server checks permissions
// before it looks the number up (PROTOCOL.md §6). A write whose earlier copy may have
// been applied (its reply lost with a connection, or answered outcome_unknown), resent
// after the client's permissions were taken away meanwhile (a keys file reload during the
// disconnect), is answered permission_denied: that says nothing of the earlier copy,
// which may have been applied before the change, and no resend cures it. The caller
// must get an *OutcomeUnknownError (look the ids up), never a *StatusError, which says
// "refused, not applied" (PROTOCOL.md §7: never report it as refused). A write whose
// every copy was answered without an unknown outcome (nothing lost, or refused busy
// first, with retries on or off) is refused for good: permission_denied as before; so
// is a read whose reply was lost (it changes nothing, so its refusal is its outcome).
func TestUnknownOutcomeThenPermissionDeniedIsNotARefusal(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		for _, retries := range []time.Duration{time.Millisecond, -1} {
			t.Run(unknown+"/retries_"+retries.String(), func(t *testing.T) {
				f := newUnknownOutcomeFixture(t, retries, unknown)
				f.answer(model.StatusPermissionDenied)
				f.expectOutcomeUnknown(t, model.StatusPermissionDenied)
			})
		}
	}
	for _, busyFirst := range []bool{false, true} {
		name := "nothing_lost"
		if busyFirst {
			name = "busy_then_permission_denied"
		}
		t.Run(name, func(t *testing.T) {
			f := newUnknownOutcomeFixture(t, time.Millisecond, "none")
			if busyFirst {
				f.answer(model.StatusBusy)
				f.expectResent(t, "busy")
			}
			f.answer(model.StatusPermissionDenied)
			f.expectRefused(t, model.StatusPermissionDenied, "a write refused for good")
		})
	}
	t.Run("lost_read", func(t *testing.T) {
		f := newUnknownOutcomeFixtureOf(t, model.OperationLookupAccounts, -1, "lost")
		f.answer(model.StatusPermissionDenied)
		f.expectRefused(t, model.StatusPermissionDenied, "a read refused after a lost reply")
	})
}

// TestUnknownOutcomeThenRequestTooOldIsNotARefusal: request_too_old says the server no
// longer knows whether a request was applied (its number below the session's window, or
// its reply evicted; PROTOCOL.md §7). To a resend of a write an earlier copy of which may
// have been applied (its reply lost with a connection, or answered outcome_unknown) it is
// the same unknown outcome: the caller must get an *OutcomeUnknownError with that status
// (look the ids up), as for permission_denied, so that errors.As(*OutcomeUnknownError)
// finds every write whose outcome the client cannot learn. The controls keep the
// *StatusError: a write answered request_too_old with nothing lost (the client broke no
// rule of the window; the status says what it says), and a read after a lost reply (it
// changes nothing).
func TestUnknownOutcomeThenRequestTooOldIsNotARefusal(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		t.Run(unknown, func(t *testing.T) {
			f := newUnknownOutcomeFixture(t, time.Millisecond, unknown)
			f.answer(model.StatusRequestTooOld)
			f.expectOutcomeUnknown(t, model.StatusRequestTooOld)
		})
	}
	controls := []struct {
		name      string
		operation model.Operation
		unknown   string
	}{
		{"nothing_lost", model.OperationCreateTransfers, "none"},
		{"lost_read", model.OperationLookupAccounts, "lost"},
	}
	for _, control := range controls {
		t.Run(control.name, func(t *testing.T) {
			f := newUnknownOutcomeFixtureOf(t, control.operation, time.Millisecond,
				control.unknown)
			f.answer(model.StatusRequestTooOld)
			f.expectRefused(t, model.StatusRequestTooOld, control.name)
		})
	}
}
