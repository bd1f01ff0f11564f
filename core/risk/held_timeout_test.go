package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestHeldPendingTransferHasNoTimeout: PROTOCOL.md (section 12, Holds) says a held
// transfer "is stored as a pending transfer with flag held_for_review (32768), no
// timeout", waiting for an operator's review. A client's own pending transfer with a
// timeout that an anomaly rule holds must then be stored without it, and must not expire
// before the operator posts it.
func TestHeldPendingTransferHasNoTimeout(t *testing.T) {
	h := holdHarness(t)
	held := h.send(sender, model.Transfer{ID: u(700), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(1000), Flags: model.TransferPending, Timeout: 1})[0]
	h.expect(held, model.StatusRiskHeldForReview, 12)
	stored := h.ledger.LookupTransfers([]model.Uint128{u(700)}, nil)
	if len(stored) != 1 || stored[0].Flags&model.TransferHeldForReview == 0 {
		t.Fatalf("stored %+v: want the held transfer", stored)
	}
	if stored[0].Timeout != 0 {
		t.Errorf("held transfer stored with timeout %d s: PROTOCOL says no timeout",
			stored[0].Timeout)
	}
	h.advance(2 * second)
	if expired := h.ledger.Expire(h.now, nil); expired != 0 {
		t.Errorf("%d held transfer(s) expired before review", expired)
	}
	post := model.Transfer{ID: u(701), PendingID: u(700), Amount: u(1000),
		Flags: model.TransferPostPending}
	h.expect(h.send(operator, post)[0], model.StatusOK, 0)
}
