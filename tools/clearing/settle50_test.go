package clearing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestSettle50BookingCompletesTheLedgersNotBooked: a booking of two ledgers of which only
// the first was made (the second refused by the ledger) is completed by booking the same
// window again: the first ledger's settlement is returned as already booked, not booked
// twice, and the second is booked with its own index's id. Before, any settlement booked
// after the cut-off refused the whole window, so the second ledger could not be settled.
func TestSettle50BookingCompletesTheLedgersNotBooked(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50), model.U128(60)}
	report := windowReport(t, b, partners, 100*second)
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90), 2: model.U128(91)},
		FirstID: model.U128(500), Code: 7}
	settlements, _, err := report.SettlementTransfers(booking)
	if err != nil || len(settlements) != 2 {
		t.Fatalf("%d settlements: %v", len(settlements), err)
	}
	b.at(300*second, settlements[0]) // Ledger 2's settlement, 501, was refused.

	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 300*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	again, already, err := report.SettlementTransfers(booking)
	if err != nil || len(again) != 1 || !bookedAs(already, 500, false) {
		t.Fatalf("booking again: %v, to book %+v, already booked %+v", err, again, already)
	}
	if eur := again[0]; eur.ID != model.U128(511) || eur.Ledger != 2 ||
		eur.DebitAccountID != model.U128(91) || eur.CreditAccountID != model.U128(60) ||
		eur.Amount != model.U128(80) || eur.UserData64 != 200*second {
		t.Fatalf("ledger 2's settlement %+v", eur)
	}
	if usd := already[0]; usd.Ledger != 1 || usd.Amount != model.U128(137) || usd.Receivable ||
		usd.Cutoff != 200*second || usd.DebitAccountID != model.U128(50) ||
		usd.CreditAccountID != model.U128(90) {
		t.Fatalf("ledger 1's settlement %+v", usd)
	}

	// Both booked, the first confirmed: a third run books nothing.
	b.at(301*second, again[0], resolve(600, 500, postAll, false))
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 302*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(520)
	again, already, err = report.SettlementTransfers(booking)
	if err != nil || len(again) != 0 || len(already) != 2 || already[0].ID != model.U128(500) ||
		!already[0].Confirmed || already[1].ID != model.U128(511) || already[1].Confirmed {
		t.Fatalf("booking a third time: %v, to book %+v, already booked %+v", err, again,
			already)
	}
}

// TestSettle50BookingRefusedForAnotherWindowsSettlement: a settlement booked after the
// cut-off still refuses a booking unless it is this window's: one of another cut-off
// (booking a window cut before it would pay twice), or one of this cut-off for another
// amount (a window with another start).
func TestSettle50BookingRefusedForAnotherWindowsSettlement(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7}
	settlements, _, err := report.SettlementTransfers(booking)
	if err != nil || len(settlements) != 1 {
		t.Fatalf("%d settlements: %v", len(settlements), err)
	}
	b.at(300*second, settlements...)
	booking.FirstID = model.U128(510)

	ledgers, _ := NewLedgers(nil)
	earlier, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: partners, Window: Window{From: 100 * second, Until: 150 * second}})
	if err != nil {
		t.Fatal(err)
	}
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 150*second, 300*second); err != nil {
		t.Fatal(err)
	}
	if again, already, err := earlier.SettlementTransfers(booking); !refusedAsBookedAfter(err) {
		t.Errorf("a window cut before a settlement booked: %v, to book %+v, already %+v", err,
			again, already)
	}

	later := windowReport(t, b, partners, 111*second) // Same cut-off, net 37.
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 300*second); err != nil {
		t.Fatal(err)
	}
	again, already, err := later.SettlementTransfers(booking)
	if !errors.Is(err, ErrBooking) || !strings.Contains(err.Error(), "another window") {
		t.Errorf("a window of the same cut-off and another net: %v, to book %+v, already %+v",
			err, again, already)
	}
}

// windowReport nets the partners' accounts over [from, 200 s].
func windowReport(t *testing.T, b *book, partners []model.Uint128, from uint64) *NettingReport {
	t.Helper()
	ledgers, _ := NewLedgers(nil)
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: partners, Window: Window{From: from, Until: 200 * second}})
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// bookOneAt300 books the report's one settlement at log time 300 s, and returns it.
func bookOneAt300(t *testing.T, b *book, report *NettingReport, booking Booking) []model.Transfer {
	t.Helper()
	first, _, err := report.SettlementTransfers(booking)
	if err != nil || len(first) != 1 {
		t.Fatalf("%d settlements: %v", len(first), err)
	}
	b.at(300*second, first...)
	return first
}

// otherPartnersSettlement is a book where partner 51 moved 137 at 50 s and partner 50
// 137 at 110 s, with 51's settlement of the window 0..200 s (id 500, with the timeout)
// booked at log time 300 s; and that booking.
func otherPartnersSettlement(t *testing.T, timeout uint32) (*book, Booking) {
	t.Helper()
	b := newBook(t, model.Account{ID: model.U128(1), Ledger: 1, Code: 1},
		model.Account{ID: model.U128(50), Ledger: 1, Code: 2},
		model.Account{ID: model.U128(51), Ledger: 1, Code: 2},
		model.Account{ID: model.U128(90), Ledger: 1, Code: 3})
	b.at(50*second, move(10, 1, 51, 137, 1))  // 51's, before the window 100..200 s.
	b.at(110*second, move(11, 1, 50, 137, 1)) // 50's, in both windows.
	ledgers, _ := NewLedgers(nil)
	alone, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(51)}, Window: Window{From: 0, Until: 200 * second}})
	if err != nil {
		t.Fatal(err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: timeout}
	first, _, err := alone.SettlementTransfers(booking)
	if err != nil || len(first) != 1 || first[0].DebitAccountID != model.U128(51) {
		t.Fatalf("51's settlement: %+v, %v", first, err)
	}
	b.at(300*second, first...)
	return b, booking
}
