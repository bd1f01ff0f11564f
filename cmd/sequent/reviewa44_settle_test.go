package main

import (
	"strings"
	"testing"

	"sequent/core/model"
)

// TestReviewa44SettleWindowBookedAgainAfterItsSettlementPosted: ea6c998 refuses to book a
// window again while the settlement booked for it (after its cut-off) is in flight. Once
// the partner confirms it (posted), the same run again (a retried script, a second
// operator: the case the fix names) reads the window's net unchanged, since the posted
// settlement lies after the cut-off, and books the partner's payable a second time: the
// partner is paid 7.00 twice for one window.
func TestReviewa44SettleWindowBookedAgainAfterItsSettlementPosted(t *testing.T) {
	ctx, c, book := windowBookedOnce(t)
	// The partner confirms the settlement: 7.00 paid out.
	results, err := c.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(901),
		PendingID: model.U128(900), Amount: model.Uint128Max,
		Flags: model.TransferPostPending}})
	if err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("post: %v %+v", err, results)
	}
	output, err := book("910")
	booked, lookup := c.LookupTransfers(ctx, []model.Uint128{model.U128(900), model.U128(910)})
	if lookup != nil || len(booked) != 1 {
		t.Fatalf("the window settled and confirmed was booked again (%d settlements, "+
			"err %v, %v):\n%s", len(booked), err, lookup, output)
	}
	// Since session 50 the same window booked again is not refused: the run says its
	// settlement is already booked and books the ledgers still without one (none here).
	if err != nil || !strings.Contains(output,
		"settlement 900 (ledger 1, 700 50 → 90): already booked for this cut-off (confirmed)") {
		t.Fatalf("the run does not say the window is already booked (%v):\n%s", err, output)
	}
}

// TestReviewa44SettleWindowBookedAgainAfterItsSettlementVoided: the refusal above must not
// refuse a legitimate booking: a settlement the partner disputed (voided) paid nothing,
// so the same window is booked again.
func TestReviewa44SettleWindowBookedAgainAfterItsSettlementVoided(t *testing.T) {
	ctx, c, book := windowBookedOnce(t)
	results, err := c.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(901),
		PendingID: model.U128(900), Flags: model.TransferVoidPending}})
	if err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("void: %v %+v", err, results)
	}
	if output, err := book("910"); err != nil || !strings.Contains(output, "settlement 910") {
		t.Fatalf("the window whose settlement was voided was not booked again: %v\n%s",
			err, output)
	}
}
