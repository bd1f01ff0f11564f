package client

import (
	"errors"
	"testing"

	"sequent/core/model"
)

// TestCloseHandlesARefusalReadFirstAsARefusal: the reply read as Close closes the
// connection answers the one copy of a write sent on it; it is that copy's answer, as
// it would be a moment earlier. shutting_down (the server draining, as it often is when
// a client closes) refuses the write: its caller must get that refusal, a *StatusError,
// not an *OutcomeUnknownError that sends it to look the write up. busy refuses it too,
// and it waits to be resent when Close fails it: its caller gets ErrClosed, plain (no
// copy may be applied). Close counted the copy as lost with the connection before the
// reader handled its answer: the write's outcome became unknown, the shutting_down
// answer a cue to resend it (a refusal that says nothing of an earlier copy).
func TestCloseHandlesARefusalReadFirstAsARefusal(t *testing.T) {
	for _, status := range []model.Status{model.StatusShuttingDown, model.StatusBusy} {
		t.Run(status.String(), func(t *testing.T) {
			_, err := closeWithAReplyRead(status, Config{BusyRetryDelay: waitLimit})
			var outcomeUnknown *OutcomeUnknownError
			if errors.As(err, &outcomeUnknown) {
				t.Fatalf("a write answered %s on its only copy ended as of unknown "+
					"outcome: %v", status, err)
			}
			var refused *StatusError
			switch {
			case status == model.StatusBusy && !errors.Is(err, ErrClosed):
				t.Fatalf("a write answered busy, waiting to be resent at Close: %v, "+
					"want ErrClosed", err)
			case status != model.StatusBusy &&
				(!errors.As(err, &refused) || refused.Status != status):
				t.Fatalf("a write answered %s: %v, want a *StatusError %s", status, err,
					status)
			}
		})
	}
}
