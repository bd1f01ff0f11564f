package clearing

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestReview50SCVoidIDsPastTheLastIDRefuseNotPanic: PlanSettlements numbers the voids
// after the settlements with MustAdd, one past each id it gives, so `sequent settle --book
// --settlement-id` one below the last id (2^128-2, the settlement; its void 2^128-1) ran
// the command into a panic once a void was due (the settlement ids panicked the same way
// at `--settlement-id max`, which parseID takes). The last id is not a transfer id the
// ledger takes (id_must_not_be_int_max) anyway. Claim: ids that do not fit refuse the
// booking before anything is sent (ErrBooking), they do not panic.
func TestReview50SCVoidIDsPastTheLastIDRefuseNotPanic(t *testing.T) {
	_, report, booking := settlementAheadOfTheLog(t)
	for _, first := range []model.Uint128{model.Uint128Max.MustSub(model.U128(1)),
		model.Uint128Max} {
		booking.FirstID = first
		plan, err := func() (plan SettlementPlan, err error) {
			defer func() {
				if recovered := recover(); recovered != nil {
					err = fmt.Errorf("panic: %v", recovered)
				}
			}()
			return report.PlanSettlements(booking)
		}()
		if !errors.Is(err, ErrBooking) {
			t.Errorf("--settlement-id %s: plan %+v, %v; want ErrBooking", first, plan, err)
		}
	}
}

// TestReview50SCVoidAnswerLostThenRerun: checked fine. The void of settlement 500 is
// applied but its answer lost (the command fails before booking); the rerun, with another
// --settlement-id (520), reads 500 voided on the partner's account, voids nothing and
// books 520 once; 500 cannot be confirmed. And a later run whose --settlement-id falls on
// the earlier void's id (511) is refused by the ledger (exists_with_different_flags), it
// books nothing over it.
func TestReview50SCVoidAnswerLostThenRerun(t *testing.T) {
	b, report, booking := settlementAheadOfTheLog(t)
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 1 {
		t.Fatalf("plan %+v (%v)", plan, err)
	}
	b.at(356*second, plan.Voids[0]) // Applied; the answer never reaches the command.

	rerun := Booking{Via: booking.Via, FirstID: model.U128(520), Code: 7, Timeout: 60}
	if rerun.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, []model.Uint128{model.U128(50)}, 200*second,
		371*second); err != nil {
		t.Fatal(err)
	}
	if plan, err = report.PlanSettlements(rerun); err != nil || len(plan.Voids) != 0 ||
		len(plan.Transfers) != 1 || plan.Transfers[0].ID != model.U128(520) {
		t.Fatalf("rerun plan %+v (%v): want 520 booked, nothing voided", plan, err)
	}
	b.at(357*second, plan.Transfers...)
	if status := b.answer(358*second, resolve(31, 500, postAll, false)); status !=
		model.StatusPendingTransferAlreadyVoided {
		t.Fatalf("the partner confirms 500: %s", status)
	}

	settlement := plan.Transfers[0]
	settlement.ID = model.U128(511) // A later run's --settlement-id on the void's id.
	if status := b.answer(359*second, settlement); status !=
		model.StatusExistsWithDifferentFlags {
		t.Fatalf("a settlement on the void's id 511: %s", status)
	}
}
