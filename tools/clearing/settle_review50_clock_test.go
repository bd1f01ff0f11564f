package clearing

import (
	"context"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestReview50SettlementStillConfirmableIsNotBookedAgain: SettlementsBookedAfter left out
// a settlement whose deadline had passed by the command's own clock, and the rerun booked
// the ledger again; but the ledger judges the deadline at log time, the primary's clock.
// With the command's machine 15 s ahead of the primary, settlement 500 (booked at log time
// 300 s, timeout 60 s: deadline 360 s) was judged expired at the command's 370 s while the
// log is at 355 s: the rerun booked settlement 510 for the same window, and the partner
// could still confirm 500 (log time 356 s) and then 510: paid twice. Claim: a settlement
// the log may still let the partner confirm must not be booked again; it is voided first,
// and the ledger is booked only once the void has taken (the partner's confirmation of
// 500 is then refused).
func TestReview50SettlementStillConfirmableIsNotBookedAgain(t *testing.T) {
	b, report, booking := settlementAheadOfTheLog(t)
	again, _, err := report.SettlementTransfers(booking)
	if err == nil && len(again) == 1 {
		b.at(356*second, resolve(31, 500, postAll, false), again[0])
		b.at(357*second, resolve(32, 510, postAll, false))
		t.Fatalf("ledger 1 booked again (510) while its settlement 500 could still be " +
			"confirmed on the log: both confirmed, the partner is paid twice")
	}

	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Transfers) != 0 || len(plan.Booked) != 0 ||
		len(plan.Voids) != 1 {
		t.Fatalf("plan %+v (%v): want settlement 500 voided first, nothing booked", plan, err)
	}
	void := plan.Voids[0]
	if void.ID != model.U128(511) || void.PendingID != model.U128(500) ||
		void.Flags != model.TransferVoidPending || void.DebitAccountID != model.U128(50) ||
		void.CreditAccountID != model.U128(90) || void.Ledger != 1 {
		t.Fatalf("void %+v: want id 511 (after the settlements' ids) of 500, 50 → 90, "+
			"ledger 1", void)
	}
	status := b.answer(356*second, void)
	if status != model.StatusOK || !booking.Voided(void, status) {
		t.Fatalf("void at log time 356 s: %s", status)
	}
	plan, err = report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 0 || len(plan.Booked) != 0 ||
		len(plan.Transfers) != 1 || plan.Transfers[0].ID != model.U128(510) {
		t.Fatalf("plan once 500 is voided %+v (%v): want 510 booked", plan, err)
	}
	b.at(357*second, plan.Transfers[0])
	if status := b.answer(358*second, resolve(31, 500, postAll, false)); status !=
		model.StatusPendingTransferAlreadyVoided {
		t.Fatalf("the partner confirms 500 after 510 is booked: %s", status)
	}
}

// TestSettleClock50VoidFirstAnswers: what the ledger answers the void of a settlement the
// command's clock alone judges expired decides the ledger's booking. Voided by the partner
// meanwhile or expired by the log: the window is booked again. Confirmed by the partner
// meanwhile: the window is paid, already booked (confirmed), nothing booked. Refused for
// any other reason (a key that may move neither account, say): the settlement may still
// be confirmed, so nothing is booked and planning again voids it again.
func TestSettleClock50VoidFirstAnswers(t *testing.T) {
	for _, c := range []struct {
		name        string
		partner     *model.Transfer // What the partner does at log time 356 s.
		voidAt      uint64
		status      model.Status // The ledger's answer to the void (0: as answered).
		want        model.Status
		bookedAgain bool
		confirmed   bool
	}{
		{name: "voided by the partner", partner: ptr(resolve(31, 500, 0, true)),
			voidAt: 357 * second, want: model.StatusPendingTransferAlreadyVoided,
			bookedAgain: true},
		{name: "expired on the log", voidAt: 360 * second,
			want: model.StatusPendingTransferExpired, bookedAgain: true},
		{name: "confirmed by the partner", partner: ptr(resolve(31, 500, postAll, false)),
			voidAt: 357 * second, want: model.StatusPendingTransferAlreadyPosted,
			confirmed: true},
		{name: "refused otherwise", status: model.StatusPendingTransferNotOwned,
			want: model.StatusPendingTransferNotOwned},
	} {
		b, report, booking := settlementAheadOfTheLog(t)
		if c.partner != nil {
			b.at(356*second, *c.partner)
		}
		plan, err := report.PlanSettlements(booking)
		if err != nil || len(plan.Voids) != 1 {
			t.Fatalf("%s: plan %+v (%v)", c.name, plan, err)
		}
		status := c.status
		if status == 0 {
			status = b.answer(c.voidAt, plan.Voids[0])
		}
		if status != c.want {
			t.Fatalf("%s: the void answered %s, want %s", c.name, status, c.want)
		}
		settled := booking.Voided(plan.Voids[0], status)
		plan, err = report.PlanSettlements(booking)
		if err != nil {
			t.Fatalf("%s: planning after the void: %v", c.name, err)
		}
		switch {
		case settled != (c.bookedAgain || c.confirmed):
			t.Errorf("%s: Voided reports %v", c.name, settled)
		case c.bookedAgain && (len(plan.Transfers) != 1 || len(plan.Voids) != 0 ||
			len(plan.Booked) != 0):
			t.Errorf("%s: not booked again: %+v", c.name, plan)
		case c.confirmed && (len(plan.Transfers) != 0 || len(plan.Voids) != 0 ||
			len(plan.Booked) != 1 || plan.Booked[0].ID != model.U128(500) ||
			!plan.Booked[0].Confirmed):
			t.Errorf("%s: not already booked (confirmed): %+v", c.name, plan)
		case !settled && (len(plan.Transfers) != 0 || len(plan.Booked) != 0 ||
			len(plan.Voids) != 1 || plan.Voids[0].PendingID != model.U128(500)):
			t.Errorf("%s: booked although 500 may still be confirmed: %+v", c.name, plan)
		}
		if _, _, err := report.SettlementTransfers(booking); !settled && err == nil {
			t.Errorf("%s: SettlementTransfers books over a settlement not voided", c.name)
		}
	}
}

// settlementAheadOfTheLog books ledger 1's settlement 500 (partner 50 → 90, 137, cut-off
// 200 s) at log time 300 s with a timeout of 60 s (deadline 360 s), and returns the
// booking of the same window again with FirstID 510, its BookedAfter read with the
// command's clock at 370 s while the log is at 355 s.
func settlementAheadOfTheLog(t *testing.T) (*book, *NettingReport, Booking) {
	t.Helper()
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: 60}
	bookOneAt300(t, b, report, booking)
	var err error
	b.at(355*second, move(30, 1, 50, 5, 1)) // Log time 355 s, read: before the deadline.
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 370*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	return b, report, booking
}

// answer applies one transfer at a log time and returns the ledger's answer.
func (b *book) answer(timestamp uint64, transfer model.Transfer) model.Status {
	b.ledger.Expire(timestamp, nil)
	results := make([]model.TransferResult, 1)
	b.ledger.CreateTransfers(timestamp, []model.Transfer{transfer}, results)
	return results[0].Status
}

func ptr[T any](value T) *T { return &value }

// TestSettleClock50PostedSettlementOfAnotherCutoffRefuses: a settlement of another
// cut-off that only the caller's clock judges expired is voided first too (booking a
// window cut before it would pay twice if it were confirmed); answered already posted,
// it is confirmed and refuses the booking, as it would have had it been read posted.
func TestSettleClock50PostedSettlementOfAnotherCutoffRefuses(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	later := pending(500, 50, 90, 150, 1, 60) // Settles the cut-off 250 s.
	later.UserData64, later.UserData32 = 250*second, uint32(client.ClearingKindSettlement)<<24
	b.at(300*second, later)
	b.at(355*second, move(30, 1, 50, 5, 1))
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(510), Code: 7}
	var err error
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 370*second); err != nil {
		t.Fatal(err)
	}
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 1 || len(plan.Transfers) != 0 {
		t.Fatalf("plan %+v (%v): want 500 voided first", plan, err)
	}
	b.at(356*second, resolve(31, 500, postAll, false)) // The partner confirms it first.
	status := b.answer(357*second, plan.Voids[0])
	if status != model.StatusPendingTransferAlreadyPosted ||
		!booking.Voided(plan.Voids[0], status) {
		t.Fatalf("the void answered %s", status)
	}
	if plan, err = report.PlanSettlements(booking); !refusedAsBookedAfter(err) {
		t.Fatalf("booked under a confirmed settlement of a later cut-off: %+v (%v)", plan, err)
	}
}
