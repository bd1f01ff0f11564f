package client

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestUnknownOutcomeResendRefusedIsNeverARefusal: a write an earlier copy of which may
// have been applied (its reply lost with a connection, or answered outcome_unknown) is
// resent, and the resend is refused. Whatever the refusal, it says nothing of the earlier
// copy: the server refuses the resend as this attempt (internal_error: a fault on this
// attempt; the statuses checked before the number is looked up, PROTOCOL.md §6), or no
// longer knows the number (request_too_old), or holds another request under it
// (request_number_reused); even a shape refusal comes from the server answering now,
// which need not check as the one that took the earlier copy did. So the caller must
// never get a *StatusError ("refused, not applied"): the call is either resent (the
// statuses resent until a definite reply, which the caller then gets) or completed with
// an *OutcomeUnknownError naming the refusal. Every request-level status from busy to the
// last session status, and outcome_unknown and log_unavailable, are tried; all but
// permission_denied and request_too_old (and those resent) were reported as refused.
func TestUnknownOutcomeResendRefusedIsNeverARefusal(t *testing.T) {
	statuses := []model.Status{model.StatusOutcomeUnknown, model.StatusLogUnavailable}
	for status := model.StatusBusy; status <= model.StatusRequestNumberReused; status++ {
		statuses = append(statuses, status)
	}
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		for _, status := range statuses {
			t.Run(unknown+"/"+status.String(), func(t *testing.T) {
				f := newUnknownOutcomeFixture(t, 1, unknown)
				f.answer(status) // An empty body: not_primary names no node.
				select {
				case <-f.call.complete:
				default:
					f.expectResent(t, status.String())
					f.expectDefiniteReply(t)
					return
				}
				_, err := f.call.Wait(context.Background()) // Complete already.
				var outcomeUnknown *OutcomeUnknownError
				var statusError *StatusError
				if errors.As(err, &statusError) || !errors.As(err, &outcomeUnknown) ||
					outcomeUnknown.Status != status {
					t.Fatalf("a write of unknown outcome whose resend was answered %s: %v, "+
						"want resent or an *OutcomeUnknownError naming %s", status, err, status)
				}
			})
		}
	}
}
