package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
)

// TestEndedContextTellsAWriteMayBeApplied: a caller whose context ends stops waiting,
// and the error it gets must say whether its request may be applied. A write written
// (or queued to be) on the current connection and not answered, or whose outcome is
// unknown already (a copy lost with a connection, or answered outcome_unknown), may be
// applied: an *OutcomeUnknownError wrapping the context's error, so that both
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &outcomeUnknown) hold. It
// used to be the context's error alone, which its caller could not tell from "never
// sent". A write never written (queued while disconnected), or only refused (busy,
// waiting to be resent), and any read get the context's error itself: not applied.
func TestEndedContextTellsAWriteMayBeApplied(t *testing.T) {
	for _, test := range []struct {
		name         string
		operation    model.Operation
		unknown      string       // newUnknownOutcomeFixture's state.
		answer       model.Status // Answered so first (StatusOK: not answered).
		disconnected bool         // Queued while disconnected, never written.
		mayBeApplied bool
	}{
		{"write_on_its_way", model.OperationCreateTransfers, "none", model.StatusOK, false, true},
		{"write_lost_copy", model.OperationCreateTransfers, "lost", model.StatusOK, false, true},
		{"write_answered_outcome_unknown", model.OperationCreateTransfers, "outcome_unknown",
			model.StatusOK, false, true},
		{"write_refused_busy", model.OperationCreateTransfers, "none", model.StatusBusy, false,
			false},
		{"write_never_written", model.OperationCreateTransfers, "none", model.StatusOK, true,
			false},
		{"read_on_its_way", model.OperationLookupAccounts, "none", model.StatusOK, false, false},
	} {
		t.Run(test.name, func(t *testing.T) {
			retryDelay := time.Hour // Refused busy: resent in an hour, nothing on its way.
			if test.unknown == "outcome_unknown" {
				retryDelay = time.Millisecond // The fixture waits for the resend.
			}
			f := newUnknownOutcomeFixtureOf(t, test.operation, retryDelay, test.unknown)
			if test.answer != model.StatusOK {
				f.answer(test.answer)
			}
			if test.disconnected {
				f.c.mu.Lock()
				f.c.conn = nil // Reconnecting: its copy was queued while disconnected.
				f.c.mu.Unlock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
			defer cancel()
			_, err := f.call.Wait(ctx)
			var outcomeUnknown *OutcomeUnknownError
			var statusError *StatusError
			if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &statusError) {
				t.Fatalf("%v, want the context's error (wrapped or not)", err)
			}
			if errors.As(err, &outcomeUnknown) != test.mayBeApplied {
				t.Fatalf("%v: an *OutcomeUnknownError %v, want %v", err, !test.mayBeApplied,
					test.mayBeApplied)
			}
			if test.mayBeApplied && (outcomeUnknown.Number != 1 ||
				outcomeUnknown.Status != model.StatusOutcomeUnknown) {
				t.Fatalf("%+v, want number 1, status outcome_unknown", outcomeUnknown)
			}
		})
	}
}

// TestMergedCallerLeavingTellsItsEventsMayBeApplied: callers of a merged request who
// leave (their context ended) while it goes on get an *OutcomeUnknownError wrapping the
// context's error: a caller leaving while others wait (its events stay in the request,
// which is sent for them), and the last one when the request is written and not
// answered. The control: the only caller of a request still waiting for a window slot,
// never numbered nor sent, gets the context's error itself.
func TestMergedCallerLeavingTellsItsEventsMayBeApplied(t *testing.T) {
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		forming: map[coalesceKey]*Call{}, next: 1, spanStart: 1,
		config: Config{CoalesceEventsMax: 8}}
	key := coalesceKey{operation: model.OperationCreateTransfers}
	newMerged := func(waiters int) *Call {
		call := &Call{Operation: model.OperationCreateTransfers, client: c,
			complete: make(chan struct{}), waiters: waiters, key: key, outboxSlot: -1}
		return call
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	var outcomeUnknown *OutcomeUnknownError

	// Numbered, pending and written on the connection (a net.Pipe end is not needed: the
	// copy is counted, and no write happens here).
	sent := newMerged(2)
	c.mu.Lock()
	c.conn = &reportThenBlockConn{closed: make(chan struct{})}
	c.numberLocked(sent, 0)
	c.pending[sent.Number] = sent
	c.queueLocked(sent, []byte("request"))
	c.outbox = c.outbox[:0] // A writer took it.
	c.mu.Unlock()
	for waiter := range 2 {
		p := part{call: sent, count: 1, resultBytes: model.EventResultSize}
		_, err := p.wait(ended)
		if !errors.Is(err, context.Canceled) || !errors.As(err, &outcomeUnknown) {
			t.Fatalf("caller %d of 2 of a request on its way left: %v, want an "+
				"*OutcomeUnknownError wrapping context.Canceled", waiter+1, err)
		}
	}

	// Forming, waiting for a window slot: never numbered, never sent.
	waiting := newMerged(1)
	p := part{call: waiting, count: 1, resultBytes: model.EventResultSize}
	_, err := p.wait(ended)
	if !errors.Is(err, context.Canceled) || errors.As(err, &outcomeUnknown) {
		t.Fatalf("the only caller of a request never sent left: %v, want "+
			"context.Canceled alone", err)
	}
}

// TestBatchErrorSaysARequestMayBeApplied: a batch of several requests whose caller's
// context ends returns the first error, except that one saying a request may be applied
// wins over a plain context error (a request never sent, or a later run that never got
// window room while the earlier ones were on their way): told only that its context
// ended, the caller would take the batch for not applied.
func TestBatchErrorSaysARequestMayBeApplied(t *testing.T) {
	unknown := &OutcomeUnknownError{Operation: model.OperationCreateTransfers, Number: 3,
		Status: model.StatusOutcomeUnknown, Err: context.Canceled}
	refused := &StatusError{Operation: model.OperationCreateTransfers, Number: 2,
		Status: model.StatusPermissionDenied}
	for _, test := range []struct {
		name         string
		first, later error
		want         error
	}{
		{"none_yet", nil, context.Canceled, context.Canceled},
		{"context_then_unknown", context.Canceled, unknown, unknown},
		{"unknown_then_context", unknown, context.Canceled, unknown},
		{"refused_then_unknown", refused, unknown, refused},
		{"context_then_context", context.Canceled, context.DeadlineExceeded, context.Canceled},
	} {
		if got := batchError(test.first, test.later); got != test.want {
			t.Errorf("%s: %v, want %v", test.name, got, test.want)
		}
	}
}
