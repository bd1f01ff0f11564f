package clearing

import (
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
