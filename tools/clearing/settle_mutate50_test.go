package clearing

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestBookingRefusedWhileAnotherPartnersSettlementIsInFlight: a settlement still in flight
// (no deadline passed) on another partner account of the query, booked after the
// window's cut-off, is not the position's and refuses the booking with a message naming
// both accounts (book them one at a time): it is neither taken as this position's
// booking nor passed over. Partner 51's settlement 500 (no timeout) is booked at 300 s;
// the window 100..200 s of partners 50 and 51 has one position, 50's.
func TestBookingRefusedWhileAnotherPartnersSettlementIsInFlight(t *testing.T) {
	b, booking := otherPartnersSettlement(t, 0)
	ledgers, _ := NewLedgers(nil)
	ctx := context.Background()

	partners := []model.Uint128{model.U128(50), model.U128(51)}
	both, err := Net(ctx, MemoryReader{b.ledger}, ledgers, NettingQuery{Partners: partners,
		Window: Window{From: 100 * second, Until: 200 * second}})
	if err != nil || len(both.Positions) != 1 || both.Positions[0].Accounts[0] != "50" {
		t.Fatalf("positions %+v (%v)", both.Positions, err)
	}
	if booking.BookedAfter, err = SettlementsBookedAfter(ctx, MemoryReader{b.ledger}, partners,
		200*second, 301*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	again, already, err := both.SettlementTransfers(booking)
	if !errors.Is(err, ErrBooking) {
		t.Fatalf("not refused (%v): to book %+v, already booked %+v", err, again, already)
	}
	if message := err.Error(); !strings.Contains(message, "settlement 500 of 137 (in_flight)") ||
		!strings.Contains(message, "partner account 51, not on 50") {
		t.Errorf("refusal %q does not name the settlement, its state (in flight), its "+
			"account and the position's", message)
	}
	plan, err := both.PlanSettlements(booking)
	if !errors.Is(err, ErrBooking) {
		t.Errorf("PlanSettlements not refused (%v): %+v", err, plan)
	}
}

// TestBookingRefusedForTheOtherDirectionNamesIt: the refusal of a settlement of this
// cut-off that does not match the window's net says the booked one's state and
// direction, the facts the operator compares with the window's net.
func TestBookingRefusedForTheOtherDirectionNamesIt(t *testing.T) {
	partners := []model.Uint128{model.U128(50)}
	for _, receivable := range []bool{true, false} {
		b := nettingBook(t)
		report := windowReport(t, b, partners, 100*second)
		s := pending(500, 50, 90, 138, 1, 0) // Another amount: refused either way.
		want := DirectionPayable
		if receivable {
			s.DebitAccountID, s.CreditAccountID = s.CreditAccountID, s.DebitAccountID
			want = DirectionReceivable
		}
		s.UserData64, s.UserData32 = 200*second, uint32(client.ClearingKindSettlement)<<24
		b.at(300*second, s)
		booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
			FirstID: model.U128(510), Code: 7}
		var err error
		if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
			MemoryReader{b.ledger}, partners, 200*second, 301*second); err != nil {
			t.Fatal(err)
		}
		_, _, err = report.SettlementTransfers(booking)
		if !errors.Is(err, ErrBooking) || !strings.Contains(err.Error(), "(in_flight, "+want+" 138)") {
			t.Errorf("receivable %v: refusal %v does not say %q", receivable, err,
				"(in_flight, "+want+" 138)")
		}
	}
}

// TestVoidedOfAnUnknownSettlementBooksNothing: the ledger's answer to a void that names
// none of the settlements read after the cut-off (one inside the window, voided first)
// leaves those settlements as they were; only an answer that means the voided one can no
// longer be confirmed (voided, expired, or posted: Booking.Voided's doc) reports it
// settled, any other does not.
func TestVoidedOfAnUnknownSettlementBooksNothing(t *testing.T) {
	_, _, booking := settlementAheadOfTheLog(t)
	before := slices.Clone(booking.BookedAfter[1])
	void := model.Transfer{ID: model.U128(511), PendingID: model.U128(499),
		DebitAccountID: model.U128(50), CreditAccountID: model.U128(90), Ledger: 1,
		Flags: model.TransferVoidPending}
	for _, answer := range []struct {
		status  model.Status
		settled bool
	}{{model.StatusOK, true}, {model.StatusPendingTransferAlreadyPosted, true},
		{model.StatusPendingTransferNotFound, false}} {
		if settled := booking.Voided(void, answer.status); settled != answer.settled {
			t.Errorf("the void of 499 answered %s reports settled %v, want %v",
				answer.status, settled, answer.settled)
		}
	}
	if !slices.Equal(booking.BookedAfter[1], before) {
		t.Errorf("settlements read %+v became %+v", before, booking.BookedAfter[1])
	}
}

// TestPlanSettlementsNeedsAnIDAndACode: a booking without a first id or a code is
// refused before anything is planned (an id 0 names no transfer; code 0 is refused by
// the ledger).
func TestPlanSettlementsNeedsAnIDAndACode(t *testing.T) {
	b := nettingBook(t)
	report := windowReport(t, b, []model.Uint128{model.U128(50)}, 100*second)
	for _, booking := range []Booking{
		{Via: map[uint32]model.Uint128{1: model.U128(90)}, Code: 7},
		{Via: map[uint32]model.Uint128{1: model.U128(90)}, FirstID: model.U128(500)},
	} {
		plan, err := report.PlanSettlements(booking)
		if !errors.Is(err, ErrBooking) || len(plan.Transfers)+len(plan.Voids)+
			len(plan.Booked) != 0 {
			t.Errorf("booking %+v: plan %+v (%v), want refused", booking, plan, err)
		}
	}
}

// TestClockExpiredSettlementOfAnotherPartnerIsPassedOver: a settlement on another partner
// account of the query that the command's clock alone judges expired pays none of this
// position: it is neither this position's booking nor voided for it, and the position
// is booked. Partner 51's settlement 500 (timeout 60 s) is booked at log time 300 s and
// read with the command's clock at 370 s.
func TestClockExpiredSettlementOfAnotherPartnerIsPassedOver(t *testing.T) {
	b, booking := otherPartnersSettlement(t, 60)
	ledgers, _ := NewLedgers(nil)
	ctx := context.Background()
	partners := []model.Uint128{model.U128(50), model.U128(51)}
	both, err := Net(ctx, MemoryReader{b.ledger}, ledgers, NettingQuery{Partners: partners,
		Window: Window{From: 100 * second, Until: 200 * second}})
	if err != nil || len(both.Positions) != 1 || both.Positions[0].Accounts[0] != "50" {
		t.Fatalf("positions %+v (%v)", both.Positions, err)
	}
	if booking.BookedAfter, err = SettlementsBookedAfter(ctx, MemoryReader{b.ledger}, partners,
		200*second, 370*second); err != nil {
		t.Fatal(err)
	}
	if len(booking.BookedAfter[1]) != 1 || !booking.BookedAfter[1][0].ClockExpired {
		t.Fatalf("settlements read %+v: want 500, expired by the clock only",
			booking.BookedAfter)
	}
	booking.FirstID = model.U128(510)
	plan, err := both.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 0 || len(plan.Booked) != 0 ||
		len(plan.Transfers) != 1 || plan.Transfers[0].DebitAccountID != model.U128(50) {
		t.Fatalf("plan %+v (%v): want 50's position booked, 500 neither voided nor "+
			"taken as booked", plan, err)
	}
}

// TestSettlementOfThisCutoffBesideAClockExpiredOneRefuses: a settlement of this cut-off
// that settles the position, beside one on the same account that the command's clock
// alone judges expired (which the partner may still confirm), is neither reported
// already booked nor voided around: the booking is refused until the ledger has expired
// the other or it is voided.
func TestSettlementOfThisCutoffBesideAClockExpiredOneRefuses(t *testing.T) {
	b, report, booking := settlementAheadOfTheLog(t)
	s := pending(501, 50, 90, 137, 1, 0)
	s.UserData64, s.UserData32 = 200*second, uint32(client.ClearingKindSettlement)<<24
	b.at(355*second, s)
	var err error
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, []model.Uint128{model.U128(50)}, 200*second,
		370*second); err != nil {
		t.Fatal(err)
	}
	if len(booking.BookedAfter[1]) != 2 {
		t.Fatalf("settlements read %+v: want 500 and 501", booking.BookedAfter)
	}
	plan, err := report.PlanSettlements(booking)
	if !errors.Is(err, ErrBooking) || !strings.Contains(err.Error(), "settlement 500 whose") {
		t.Errorf("plan %+v (%v): want refused, naming 500", plan, err)
	}
}

// TestVoidedAnswersThatSettle: each answer that shows the settlement no longer
// confirmable (voided now, before by this very void's id, or by the partner; expired on
// the log) takes it out of the settlements read, so the ledger is booked again; already
// posted keeps it, confirmed. The settlements the caller read before stay as read (a
// slice taken from BookedAfter earlier is not written to).
func TestVoidedAnswersThatSettle(t *testing.T) {
	for _, status := range []model.Status{model.StatusOK, model.StatusExists,
		model.StatusPendingTransferAlreadyVoided, model.StatusPendingTransferExpired,
		model.StatusPendingTransferAlreadyPosted} {
		_, report, booking := settlementAheadOfTheLog(t)
		plan, err := report.PlanSettlements(booking)
		if err != nil || len(plan.Voids) != 1 {
			t.Fatalf("plan %+v (%v)", plan, err)
		}
		read := booking.BookedAfter[1]
		kept := slices.Clone(read)
		if !booking.Voided(plan.Voids[0], status) {
			t.Errorf("%s: Voided reports the settlement still confirmable", status)
			continue
		}
		if !slices.Equal(read, kept) {
			t.Errorf("%s: the settlements read before became %+v", status, read)
		}
		after := booking.BookedAfter[1]
		posted := status == model.StatusPendingTransferAlreadyPosted
		switch {
		case !posted && len(after) != 0:
			t.Errorf("%s: settlement still listed %+v", status, after)
		case posted && (len(after) != 1 || !after[0].Confirmed || after[0].ClockExpired):
			t.Errorf("%s: settlement %+v, want it confirmed", status, after)
		}
	}
}

// settlementTagged is a pending settlement transfer of partner 50's ledger 1 position
// (50 → 90) tagged with a cut-off, as SettlementTransfers books one.
func settlementTagged(id uint64, cutoff uint64, timeout uint32) model.Transfer {
	s := pending(id, 50, 90, 137, 1, timeout)
	s.UserData64, s.UserData32 = cutoff, uint32(client.ClearingKindSettlement)<<24
	return s
}

// TestSettlementsBookedAfterStartAfterTheCutoff: a settlement stamped at the cut-off
// itself is inside the window (the window ends at its cut-off, included): it is not one
// booked after it; one a nanosecond later is.
func TestSettlementsBookedAfterStartAfterTheCutoff(t *testing.T) {
	b := nettingBook(t)
	b.at(200*second, settlementTagged(500, 100*second, 0))
	b.at(200*second+1, settlementTagged(501, 100*second, 0))
	booked, err := SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
		[]model.Uint128{model.U128(50)}, 200*second, 300*second)
	if err != nil {
		t.Fatal(err)
	}
	if len(booked[1]) != 1 || booked[1][0].ID != model.U128(501) {
		t.Fatalf("booked after 200 s: %+v, want 501 alone", booked)
	}
}

// TestSettlementExpiredByTheClockAtItsDeadline: a settlement whose deadline is the
// command's clock reading itself is judged expired by that clock, as the ledger judges
// a deadline at a log time equal to it passed.
func TestSettlementExpiredByTheClockAtItsDeadline(t *testing.T) {
	for _, c := range []struct {
		now  uint64
		want bool
	}{{359 * second, false}, {360 * second, true}} {
		b := nettingBook(t)
		b.at(300*second, settlementTagged(500, 200*second, 60))
		booked, err := SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
			[]model.Uint128{model.U128(50)}, 200*second, c.now)
		if err != nil || len(booked[1]) != 1 {
			t.Fatalf("now %d: %+v (%v)", c.now, booked, err)
		}
		if booked[1][0].ClockExpired != c.want {
			t.Errorf("deadline 360 s, clock at %d s: expired by the clock %v, want %v",
				c.now/second, booked[1][0].ClockExpired, c.want)
		}
	}
}

// TestEveryClockExpiredSettlementGetsItsOwnVoid: two settlements on the position's
// account that the command's clock alone judges expired are voided first with one void
// each (in the order read), of consecutive ids after the settlements', and nothing is
// booked.
func TestEveryClockExpiredSettlementGetsItsOwnVoid(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	b.at(300*second, settlementTagged(500, 200*second, 60), settlementTagged(501, 150*second, 60))
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(510), Code: 7, Timeout: 60}
	var err error
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 370*second); err != nil {
		t.Fatal(err)
	}
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Voids) != 2 || len(plan.Transfers) != 0 || len(plan.Booked) != 0 {
		t.Fatalf("plan %+v (%v): want two voids, nothing booked", plan, err)
	}
	if plan.Voids[0].ID != model.U128(511) || plan.Voids[1].ID != model.U128(512) ||
		plan.Voids[0].PendingID == plan.Voids[1].PendingID {
		t.Errorf("voids %+v: want ids 511 and 512, one of 500 and one of 501", plan.Voids)
	}
	for _, void := range plan.Voids {
		if void.PendingID != model.U128(500) && void.PendingID != model.U128(501) {
			t.Errorf("void %s of %s, want one of 500 or 501", void.ID, void.PendingID)
		}
	}
}

// TestPlanSettlementsNeedsTheLedgersSettlementAccount: a position on a ledger the
// booking names no settlement account for is refused, naming the ledger.
func TestPlanSettlementsNeedsTheLedgersSettlementAccount(t *testing.T) {
	b := nettingBook(t)
	report := windowReport(t, b, []model.Uint128{model.U128(50)}, 100*second)
	plan, err := report.PlanSettlements(Booking{Via: map[uint32]model.Uint128{2: model.U128(91)},
		FirstID: model.U128(500), Code: 7})
	if !errors.Is(err, ErrBooking) || !strings.Contains(err.Error(), "ledger 1") {
		t.Errorf("plan %+v (%v): want refused for ledger 1", plan, err)
	}
}

// TestSettlementsBookedAfterListsOnlySettlements: a pending transfer after the cut-off
// that is not a settlement (no settlement tag) is not one booked: only the tagged one is
// listed.
func TestSettlementsBookedAfterListsOnlySettlements(t *testing.T) {
	b := nettingBook(t)
	b.at(300*second, pending(500, 50, 90, 137, 1, 0), settlementTagged(501, 200*second, 0))
	booked, err := SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
		[]model.Uint128{model.U128(50)}, 200*second, 301*second)
	if err != nil {
		t.Fatal(err)
	}
	if len(booked[1]) != 1 || booked[1][0].ID != model.U128(501) {
		t.Fatalf("booked after 200 s: %+v, want 501 alone", booked)
	}
}

// TestConfirmedSettlementStaysBookedPastItsDeadline: a settlement the partner confirmed
// before its deadline is booked for good: once the log has passed that deadline (a
// transfer of the account read later) it is still listed, confirmed, and the window is
// already booked, not booked again.
func TestConfirmedSettlementStaysBookedPastItsDeadline(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: 60}
	bookOneAt300(t, b, report, booking)
	var err error
	b.at(310*second, resolve(31, 500, postAll, false)) // Confirmed before 360 s.
	b.at(400*second, move(32, 1, 50, 5, 1))            // The log read past the deadline.
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 401*second); err != nil {
		t.Fatal(err)
	}
	settlements := booking.BookedAfter[1]
	if len(settlements) != 1 || !settlements[0].Confirmed || settlements[0].ClockExpired ||
		settlements[0].State() != "confirmed" {
		t.Fatalf("settlements read %+v: want 500, confirmed", booking.BookedAfter)
	}
	booking.FirstID = model.U128(510)
	plan, err := report.PlanSettlements(booking)
	if err != nil || len(plan.Transfers) != 0 || len(plan.Voids) != 0 ||
		len(plan.Booked) != 1 || plan.Booked[0].ID != model.U128(500) {
		t.Fatalf("plan %+v (%v): want 500 already booked, nothing booked again", plan, err)
	}
}

// TestSettlementExpiredAtALogTimeEqualToItsDeadline: a transfer of the partner's account
// read at a log time equal to a settlement's deadline proves the ledger has expired it
// (the ledger expires a deadline at or before its log time): it is not listed.
func TestSettlementExpiredAtALogTimeEqualToItsDeadline(t *testing.T) {
	for _, c := range []struct {
		readAt uint64
		listed bool
	}{{360*second - 1, true}, {360 * second, false}} {
		b := nettingBook(t)
		b.at(300*second, settlementTagged(500, 200*second, 60)) // Deadline 360 s.
		b.at(c.readAt, move(32, 1, 50, 5, 1))
		booked, err := SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
			[]model.Uint128{model.U128(50)}, 200*second, 300*second)
		if err != nil {
			t.Fatal(err)
		}
		if listed := len(booked[1]) == 1; listed != c.listed {
			t.Errorf("log read at %d ns, deadline 360 s: %+v, want listed %v", c.readAt,
				booked, c.listed)
		}
	}
}
