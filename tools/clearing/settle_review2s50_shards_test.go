package clearing

import (
	"context"
	"testing"

	"sequent/core/model"
)

// TestReview2S50VoidAnswersKeptPerLedger: transfer ids are unique per shard, not across
// shards (PROTOCOL.md), and `settle --book` numbers each run's settlements from its
// --settlement-id: partner 50 (ledger 1, shard 0) and partner 60 (ledger 2, shard 1),
// booked in two runs with --settlement-id 900, both hold a settlement 900. Their window's
// cut-off is ahead of the log, so a joint rerun voids both first (912 on ledger 1, 913 on
// ledger 2). The partner confirms ledger 1's 900 before its void arrives (already
// posted: ledger 1's net is stale), ledger 2's void takes. Booking.Voided kept the answers
// to the voids of settlements in the window by the settlement's id alone, so ledger 2's
// "ok" stood for ledger 1's 900 too: ledger 1 was booked again over the 900 just
// confirmed, and the partner is paid twice. Claim: a void's answer counts for its own
// ledger's settlement only; ledger 1 is refused.
func TestReview2S50VoidAnswersKeptPerLedger(t *testing.T) {
	h := newSettleShards(0)
	ctx := context.Background()
	ledgers, _ := NewLedgers(nil)
	h.apply(move(1, 1, 50, 100, 1))
	h.apply(move(2, 2, 60, 100, 2))
	cutoff := h.log + 10_000*second
	via := map[uint32]model.Uint128{1: model.U128(90), 2: model.U128(91)}
	net := func(partners ...uint64) *NettingReport {
		query := NettingQuery{Window: Window{Until: cutoff}}
		for _, partner := range partners {
			query.Partners = append(query.Partners, model.U128(partner))
		}
		report, err := Net(ctx, h, ledgers, query)
		if err != nil {
			t.Fatal(err)
		}
		return report
	}
	for _, partner := range []uint64{50, 60} { // Two runs, each --settlement-id 900.
		booking := Booking{Via: via, FirstID: model.U128(900), Code: 7, Timeout: 60}
		plan, err := net(partner).PlanSettlements(booking)
		if err != nil || len(plan.Transfers) != 1 || len(plan.Voids) != 0 {
			t.Fatalf("partner %d: %+v (%v)", partner, plan, err)
		}
		if status := h.apply(plan.Transfers[0]); status != model.StatusOK {
			t.Fatalf("partner %d's settlement 900: %s", partner, status)
		}
	}
	// Both deadlines (60 s on) are past by the cut-off, not by the log.

	report := net(50, 60)
	booking := Booking{Via: via, FirstID: model.U128(910), Code: 7, Timeout: 60}
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 2 || len(plan.Transfers) != 0 {
		t.Fatalf("plan %+v (%v): want both 900s voided first", plan, err)
	}
	confirmation := resolve(30, 900, postAll, false)
	confirmation.Ledger = 1
	if status := h.apply(confirmation); status != model.StatusOK {
		t.Fatalf("the partner confirms ledger 1's 900: %s", status)
	}
	for _, void := range plan.Voids {
		booking.Voided(void, h.apply(void))
	}
	if plan, err = report.PlanSettlements(booking); err != nil {
		return // Refused: nothing booked over the 900 just confirmed.
	}
	for _, transfer := range plan.Transfers {
		if transfer.Ledger == 1 {
			h.apply(transfer)
			t.Fatalf("ledger 1 booked again (%s of %s) over its settlement 900, confirmed "+
				"before its void: ledger 2's void answer (ok) was taken for it; the "+
				"partner is paid twice", transfer.ID, transfer.Amount)
		}
	}
}
