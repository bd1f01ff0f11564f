package clearing

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestReview50SCSettlementInTheWindowExpiredByTheCutoffOnly: settleclock50 says only a log
// time proves a deadline passed, and voids first a settlement booked after the cut-off
// whose deadline only the command's clock has passed. But a settlement booked inside the
// window is still judged at the cut-off (pendingState: ExpiredBy(t, cut-off)), and the
// cut-off is no log time either: `--until now` is the command's clock, which the change
// itself says may run ahead of the log, and an operator may give a far-future end
// (hunt49). Here the window's cut-off is 1000 s while the log is at 355 s; settlement 500
// (booked at 300 s, timeout 60 s: deadline 360 s) is inside the window, judged expired at
// the cut-off, so it is neither in flight (SettlementInFlight) nor booked after the
// cut-off: booking the window again books 510, and the partner, who can still confirm
// 500 on the log (356 s < 360 s), confirms both: paid twice. Claim: a settlement in the
// window whose deadline no log time read of its account has passed must not be taken as
// expired by the booking (refuse, or void it first as after the cut-off).
func TestReview50SCSettlementInTheWindowExpiredByTheCutoffOnly(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	ledgers, _ := NewLedgers(nil)
	net := func() *NettingReport {
		report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers,
			NettingQuery{Partners: partners, Window: Window{From: 100 * second,
				Until: 1000 * second}})
		if err != nil {
			t.Fatal(err)
		}
		return report
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: 60}
	bookOneAt300(t, b, net(), booking) // Deadline 360 s.
	var err error
	b.at(355*second, move(30, 1, 50, 5, 1)) // Log time 355 s, read: before the deadline.

	booking.FirstID = model.U128(510)
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 1000*second, 370*second); err != nil {
		t.Fatal(err)
	}
	report := net()
	plan, err := report.PlanSettlements(booking)
	if err == nil && len(plan.Voids) != 0 { // Voided first: the ledger answers, plan again.
		if len(plan.Voids) != 1 || plan.Voids[0].PendingID != model.U128(500) ||
			plan.Voids[0].ID != model.U128(511) || len(plan.Transfers) != 0 {
			t.Fatalf("plan %+v: want settlement 500 voided first (511), nothing booked", plan)
		}
		status := b.answer(356*second, plan.Voids[0])
		if status != model.StatusOK || !booking.Voided(plan.Voids[0], status) {
			t.Fatalf("void of 500 at log time 356 s: %s", status)
		}
		plan, err = report.PlanSettlements(booking)
		if err != nil || len(plan.Voids) != 0 || len(plan.Transfers) != 1 ||
			plan.Transfers[0].ID != model.U128(510) {
			t.Fatalf("plan once 500 is voided %+v (%v): want 510 booked", plan, err)
		}
	}
	if err != nil || len(plan.Transfers) == 0 {
		return // Refused, or nothing booked: the partner cannot be paid twice this way.
	}
	b.at(357*second, plan.Transfers...)
	confirmed := b.answer(358*second, resolve(31, 500, postAll, false))
	again := b.answer(359*second, resolve(32, plan.Transfers[0].ID.Lo, postAll, false))
	if confirmed == model.StatusOK && again == model.StatusOK {
		t.Fatalf("ledger 1 booked again (%s of %s) while settlement 500, in the window, "+
			"could still be confirmed on the log: both confirmed, the partner is paid twice",
			plan.Transfers[0].ID, plan.Transfers[0].Amount)
	}
}

// TestReview50SCSettlementInTheWindowConfirmedBeforeItsVoid: the same window, the partner
// confirms settlement 500 (in the window, expired at the cut-off only) before its void
// arrives: the void answers already posted. The window's net was read with 500 unposted
// (142), so booking it now would pay 142 on top of the 137 just confirmed. Claim: that
// answer refuses the booking (the net is stale), it does not book the ledger.
func TestReview50SCSettlementInTheWindowConfirmedBeforeItsVoid(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	ledgers, _ := NewLedgers(nil)
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: partners, Window: Window{From: 100 * second, Until: 1000 * second}})
	if err != nil {
		t.Fatal(err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: 60}
	bookOneAt300(t, b, report, booking)
	b.at(355*second, move(30, 1, 50, 5, 1))
	if report, err = Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: partners, Window: Window{From: 100 * second,
			Until: 1000 * second}}); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 1000*second, 370*second); err != nil {
		t.Fatal(err)
	}
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 1 || len(plan.Transfers) != 0 {
		t.Fatalf("plan %+v (%v): want 500 voided first, nothing booked", plan, err)
	}
	b.at(356*second, resolve(31, 500, postAll, false)) // The partner confirms it first.
	status := b.answer(357*second, plan.Voids[0])
	if status != model.StatusPendingTransferAlreadyPosted {
		t.Fatalf("the void answered %s", status)
	}
	booking.Voided(plan.Voids[0], status)
	if plan, err = report.PlanSettlements(booking); !errors.Is(err, ErrBooking) {
		t.Fatalf("booked over settlement 500 confirmed after the window was read: %+v (%v)",
			plan, err)
	}
}
