package client

import (
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReadRefusedAfterBusyGetsTheRefusal: a write of unknown outcome (refused busy
// before, or a copy lost with a connection) is resent when a resend is answered
// shutting_down, rate_limited or not_primary with no address: the refusal says nothing
// of an earlier copy, which may be applied (PROTOCOL.md §7). A read has no such copy: it
// is recorded nowhere and executed again when resent, so its refusal is its outcome,
// as it is for a read refused so on its first copy. Resent instead, it looped (on a
// draining server, a fenced node) until its caller left, which a caller without a
// deadline never does. The caller must get a *StatusError with the refusal.
func TestReadRefusedAfterBusyGetsTheRefusal(t *testing.T) {
	refusals := []model.Status{model.StatusShuttingDown, model.StatusRateLimited,
		model.StatusNotPrimary}
	for _, history := range []string{"busy", "lost"} {
		for _, refusal := range refusals {
			t.Run(history+"/"+refusal.String(), func(t *testing.T) {
				unknown := map[string]string{"busy": "none", "lost": "lost"}[history]
				f := newUnknownOutcomeFixtureOf(t, model.OperationLookupAccounts, 1, unknown)
				if history == "busy" {
					f.answer(model.StatusBusy)
					f.expectResent(t, "busy")
				}
				f.c.complete(&wire.Frame{Kind: wire.KindReply, Operation: f.call.Operation,
					Number: 1, Status: uint32(refusal)}, f.c.generation) // No address.
				// complete hands a reply to the caller before it returns: a read still
				// waiting here was kept pending, to be resent.
				select {
				case <-f.call.complete:
				default:
					t.Fatalf("after %s, a read answered %s was kept pending, to be resent",
						history, refusal)
				}
				_, err := f.waitBounded()
				var refused *StatusError
				if !errors.As(err, &refused) || refused.Status != refusal {
					t.Fatalf("after %s, a read answered %s ended with %v, want a "+
						"*StatusError with that status", history, refusal, err)
				}
				f.c.mu.Lock()
				pending := f.c.pending[1] != nil
				f.c.mu.Unlock()
				if pending {
					t.Fatal("the refused read stayed pending")
				}
			})
		}
	}
}
