package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestUnknownOutcomeThenNotPrimaryNamingThisNodeIsResent: a not_primary whose address is
// the one the client is connected to (a node that names itself, or the address of a
// proxy in front of the nodes) follows no redirect: nothing is reconnected, and the reply
// fell through to the caller as a *StatusError, "refused, not applied". For a write
// whose earlier copy may have been applied (its reply lost with a connection, or answered
// outcome_unknown) that refusal says nothing of that copy, as an empty not_primary
// does (PROTOCOL.md §7: keep resending, never report it as refused): the write must stay
// pending and be resent until a definite reply. A write with nothing unknown about it
// still gets not_primary, as before.
func TestUnknownOutcomeThenNotPrimaryNamingThisNodeIsResent(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		for _, retries := range []time.Duration{time.Millisecond, -1} {
			t.Run(unknown+"/retries_"+retries.String(), func(t *testing.T) {
				f := newUnknownOutcomeFixture(t, retries, unknown)
				f.answerNotPrimary(f.connectedAddress())
				f.expectResent(t, "not_primary naming this node")
				f.expectDefiniteReply(t)
			})
		}
	}
	t.Run("nothing_lost", func(t *testing.T) {
		f := newUnknownOutcomeFixture(t, time.Millisecond, "none")
		f.answerNotPrimary(f.connectedAddress())
		f.expectRefused(t, model.StatusNotPrimary, "not_primary naming this node, nothing lost")
	})
}

// connectedAddress is the address of the fixture's current connection, as the client
// compares a redirect's with it.
func (f *unknownOutcomeFixture) connectedAddress() string {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.conn.RemoteAddr().String()
}

// answerNotPrimary delivers not_primary naming primary to the current copy.
func (f *unknownOutcomeFixture) answerNotPrimary(primary string) {
	f.c.complete(&wire.Frame{Kind: wire.KindReply, Operation: f.call.Operation, Number: 1,
		Status: uint32(model.StatusNotPrimary), Body: []byte(primary)}, f.c.generation)
}

// TestUnknownOutcomeCallerGivesUpWithRetriesOff: with busy retries off, a write of
// unknown outcome answered busy is resent (TestUnknownOutcomeThenBusyWithRetriesOffIsResent).
// When its caller's context ends meanwhile, the caller gets an *OutcomeUnknownError
// wrapping the context's error, never a refusal; the call stays pending without a caller while a copy of it
// may still be applied (one was lost with its connection, PROTOCOL.md §7), and leaves
// the pending set at the next definite answer, a permission_denied included.
func TestUnknownOutcomeCallerGivesUpWithRetriesOff(t *testing.T) {
	for _, final := range []model.Status{model.StatusOK, model.StatusPermissionDenied} {
		t.Run(final.String(), func(t *testing.T) {
			f := newUnknownOutcomeFixture(t, -1, "lost")
			f.answer(model.StatusBusy)
			f.expectResent(t, "busy")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := f.call.Wait(ctx)
			var statusError *StatusError
			var outcomeUnknown *OutcomeUnknownError
			if !errors.Is(err, context.Canceled) || errors.As(err, &statusError) ||
				!errors.As(err, &outcomeUnknown) {
				t.Fatalf("a caller giving up on a write of unknown outcome: %v, want an "+
					"*OutcomeUnknownError wrapping context.Canceled", err)
			}
			f.c.mu.Lock()
			kept := f.c.pending[1] == f.call && f.call.abandoned
			f.c.mu.Unlock()
			if !kept {
				t.Fatal("dropped while a copy lost with its connection may still be applied")
			}
			f.answer(final)
			f.c.mu.Lock()
			defer f.c.mu.Unlock()
			if f.c.pending[1] != nil {
				t.Fatalf("still pending after the definite answer %s", final)
			}
		})
	}
}
