package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestHeldPendingTransferKeepsItsTimeout pins PROTOCOL.md's Holds (section 12): a held
// transfer is stored pending with flag held_for_review; one the client sent single-phase
// has no timeout and waits for the review however long it takes, while a client's own
// pending transfer keeps the timeout the client gave it (the hold never locks the payer's
// funds longer than the payer asked). At that timeout the held pending transfer expires
// like any pending one: its amount goes back to the payer, and the operator's post then
// answers pending_transfer_expired. Dropping the held pending transfer's timeout fails the
// stored timeout, the expiry count, the payer's pending debits and the post's status.
func TestHeldPendingTransferKeepsItsTimeout(t *testing.T) {
	h := holdHarness(t)
	pending := h.send(sender, model.Transfer{ID: u(700), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(1000), Flags: model.TransferPending, Timeout: 1})[0]
	h.expect(pending, model.StatusRiskHeldForReview, 12)
	single := h.send(sender, model.Transfer{ID: u(710), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(2000)})[0]
	h.expect(single, model.StatusRiskHeldForReview, 12)
	stored := h.ledger.LookupTransfers([]model.Uint128{u(700), u(710)}, nil)
	held := model.TransferPending | model.TransferHeldForReview
	if len(stored) != 2 || stored[0].Flags != held || stored[1].Flags != held {
		t.Fatalf("stored %+v: want both held (flags %#x)", stored, held)
	}
	if stored[0].Timeout != 1 {
		t.Errorf("held pending transfer stored with timeout %d s, want the client's 1 s",
			stored[0].Timeout)
	}
	if stored[1].Timeout != 0 {
		t.Errorf("held single-phase transfer stored with timeout %d s, want none",
			stored[1].Timeout)
	}

	// A day later the held pending transfer has expired, alone.
	h.advance(86_400 * second)
	var expired []model.Uint128
	h.ledger.Expire(h.now, func(id model.Uint128) { expired = append(expired, id) })
	if len(expired) != 1 || expired[0] != u(700) {
		t.Fatalf("expired %v, want only the held pending transfer 700", expired)
	}
	payer := h.ledger.LookupAccounts([]model.Uint128{u(1)}, nil)
	if len(payer) != 1 || payer[0].DebitsPending != u(2000) {
		t.Fatalf("payer %+v: want only the held single-phase 2,000 pending", payer)
	}
	post := model.Transfer{ID: u(701), PendingID: u(700), Amount: u(1000),
		Flags: model.TransferPostPending}
	h.expect(h.send(operator, post)[0], model.StatusPendingTransferExpired, 0)
	// The held single-phase transfer still waits for the review: the operator posts it.
	post = model.Transfer{ID: u(711), PendingID: u(710), Amount: u(2000),
		Flags: model.TransferPostPending}
	h.expect(h.send(operator, post)[0], model.StatusOK, 0)
}
