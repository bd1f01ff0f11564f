package client

import (
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// endings of a pending call other than a reply, as the client meets them: Close; a
// revoked key (an error frame that stops the session); a login refused on the reconnect
// after the connection ended (maintain stops the client with it); a protocol error naming
// the request (unexpected_frame to its copy on the current connection; not bad_checksum,
// whose number is unverified: it ends no call, see bad_checksum_test.go).
// Each ends the call and returns the error the call is expected to carry, or wrap.
var endings = []struct {
	name string
	end  func(f *unknownOutcomeFixture) error
}{
	{"close", func(f *unknownOutcomeFixture) error {
		_ = f.c.Close()
		return ErrClosed
	}},
	{"key_revoked", func(f *unknownOutcomeFixture) error {
		frame := wire.Frame{Kind: wire.KindError, Status: uint32(wire.ErrorKeyRevoked)}
		return f.c.handle(&frame, f.c.generation)
	}},
	{"login_refused_on_reconnect", func(f *unknownOutcomeFixture) error {
		f.c.mu.Lock()
		f.c.lostLocked(f.c.generation, errors.New("connection ended"))
		f.c.mu.Unlock()
		refused := &ServerError{Code: uint32(wire.ErrorLoginUnknownKey),
			Name: wire.ErrorLoginUnknownKey.String()}
		f.c.failFatal(refused)
		return refused
	}},
	{"close_after_fatal", func(f *unknownOutcomeFixture) error {
		// failFatal marks the client stopped, with its cause, and leaves the failing of
		// the pending calls to a goroutine (it runs on the reader, which shutdown waits
		// for). Close may run first: the state failFatal leaves before that goroutine
		// runs, then Close. Its callers must learn the fatal cause, not ErrClosed.
		revoked := &ServerError{Code: uint32(wire.ErrorKeyRevoked),
			Name: wire.ErrorKeyRevoked.String()}
		f.c.mu.Lock()
		f.c.closed, f.c.fatal = true, revoked
		f.c.mu.Unlock()
		_ = f.c.Close()
		return revoked
	}},
	{"unexpected_frame", func(f *unknownOutcomeFixture) error {
		frame := wire.Frame{Kind: wire.KindError, Status: uint32(wire.ErrorUnexpectedFrame),
			Number: 1}
		return f.c.handle(&frame, f.c.generation)
	}},
}

// TestEndedWriteOfUnknownOutcomeIsNotReportedPlainly: a pending write ends without a
// reply (see endings). If a copy of it may have been applied — its reply lost with a
// connection, answered outcome_unknown, or (for an ending that answers no copy) sent on
// the current connection and not answered — its caller must get an *OutcomeUnknownError
// wrapping the ending's error (errors.Is/As still find it): ErrClosed or a *ServerError
// alone reads as "failed", and a caller may retry a write that is applied under a new
// request, or give up on one that is. A write no copy of which may have been applied
// keeps the bare error: refused busy and waiting to be resent, or (for a protocol error
// naming it) sent once, that copy refused; and a read always does.
func TestEndedWriteOfUnknownOutcomeIsNotReportedPlainly(t *testing.T) {
	histories := []struct {
		name      string
		operation model.Operation
		unknown   string // newUnknownOutcomeFixture's
		busy      bool   // Then answered busy: waiting out its backoff, nothing on its way.
		// outcomeUnknown maps the endings whose expectation differs from the default.
		outcomeUnknown map[string]bool
		otherwise      bool
	}{
		{"sent_once", model.OperationCreateTransfers, "none", false,
			map[string]bool{"unexpected_frame": false}, true},
		{"lost", model.OperationCreateTransfers, "lost", false, nil, true},
		{"outcome_unknown", model.OperationCreateTransfers, "outcome_unknown", false, nil, true},
		{"refused_busy", model.OperationCreateTransfers, "none", true, nil, false},
		{"read_lost", model.OperationLookupAccounts, "lost", false, nil, false},
	}
	for _, history := range histories {
		for _, ending := range endings {
			t.Run(history.name+"/"+ending.name, func(t *testing.T) {
				f := newUnknownOutcomeFixtureOf(t, history.operation, 1, history.unknown)
				f.c.logoutSeen = make(chan struct{})
				close(f.c.logoutSeen) // Close waits for no acknowledgement.
				f.c.endLifetime = func() {}
				if history.busy {
					// The state complete leaves after busy (resendOrDropLocked), the
					// resend not yet queued: set here, as a timer could queue it first.
					f.c.mu.Lock()
					f.call.unanswered--
					f.call.busyRetries++
					f.c.mu.Unlock()
				}
				cause := ending.end(f)
				_, err := f.waitBounded()
				want, listed := history.outcomeUnknown[ending.name]
				if !listed {
					want = history.otherwise
				}
				var outcomeUnknown *OutcomeUnknownError
				var serverError *ServerError
				if errors.As(err, &outcomeUnknown) != want {
					t.Fatalf("ended: %v; an *OutcomeUnknownError: %v, want %v", err, !want, want)
				}
				if want && (outcomeUnknown.Number != 1 ||
					outcomeUnknown.Status != model.StatusOutcomeUnknown) {
					t.Fatalf("ended: %+v, want number 1, status outcome_unknown",
						outcomeUnknown)
				}
				if errors.As(cause, &serverError) {
					var got *ServerError
					if !errors.As(err, &got) || got.Code != serverError.Code {
						t.Fatalf("ended: %v, want it to carry %v", err, cause)
					}
				} else if !errors.Is(err, cause) {
					t.Fatalf("ended: %v, want it to carry %v", err, cause)
				}
			})
		}
	}
}
