package clearing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestReviewa44SettlementBookedAfterTheCommandsClock: `sequent settle --book` looks for the
// settlement of its window between the cut-off and now, now being the command's own
// clock, while the settlement's timestamp is the log's (the primary's clock; and core
// keeps log time from going back, so after a failover to a node whose clock is behind it
// stays ahead of the wall clock for a while). With the log 50 s ahead of the operator's
// machine, the settlement booked for the window (log time 300 s) is after the command's
// now (250 s): not seen, and the same window is booked a second time.
func TestReviewa44SettlementBookedAfterTheCommandsClock(t *testing.T) {
	b := nettingBook(t)
	ledgers, _ := NewLedgers(nil)
	partners := []model.Uint128{model.U128(50)}
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: partners, Window: Window{From: 100 * second, Until: 200 * second}})
	if err != nil {
		t.Fatal(err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7}
	settlements, _, err := report.SettlementTransfers(booking)
	if err != nil || len(settlements) != 1 {
		t.Fatalf("%d settlements: %v", len(settlements), err)
	}
	b.at(300*second, settlements...) // Log time; the operator's clock reads 250 s.
	booked, err := SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
		partners, 200*second, 250*second)
	if err != nil {
		t.Fatal(err)
	}
	booking.BookedAfter, booking.FirstID = booked, model.U128(700)
	if again, already, err := report.SettlementTransfers(booking); err != nil ||
		len(again) != 0 || !bookedAs(already, 500, false) {
		t.Fatalf("the window was booked again (%d settlements, %v) while its settlement "+
			"of log time 300 s, after the command's clock, is in flight (already booked "+
			"%+v)", len(again), err, already)
	}
	// Confirmed by the partner, at a log time still ahead of the command's clock.
	b.at(301*second, resolve(600, 500, postAll, false))
	if booked, err = SettlementsBookedAfter(context.Background(), MemoryReader{b.ledger},
		partners, 200*second, 250*second); err != nil {
		t.Fatal(err)
	}
	booking.BookedAfter = booked
	if again, already, err := report.SettlementTransfers(booking); err != nil ||
		len(again) != 0 || !bookedAs(already, 500, true) {
		t.Fatalf("the window was booked again (%d settlements, %v) after its settlement "+
			"was confirmed at a log time after the command's clock (already booked %+v)",
			len(again), err, already)
	}
}

// bookedAs reports whether already holds exactly the settlement id, confirmed or not.
func bookedAs(already []BookedSettlement, id uint64, confirmed bool) bool {
	return len(already) == 1 && already[0].ID == model.U128(id) &&
		already[0].Confirmed == confirmed
}

// refusedAsBookedAfter reports whether err refuses a booking for the settlements booked
// after the window's cut-off, not for another reason.
func refusedAsBookedAfter(err error) bool {
	return errors.Is(err, ErrBooking) &&
		strings.Contains(err.Error(), "booked after the window's cut-off")
}
