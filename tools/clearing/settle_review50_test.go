package clearing

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
)

// TestReview50AlreadyBookedOnlyForThePositionsAccount: a settlement counts as "already
// booked" for a ledger when its cut-off, amount and direction match the position's, but
// the partner account it settles was not compared with the position's. Partner accounts
// 50 and 51 are both on ledger 1; 51 had 137 credited before the window and was settled
// alone (`--partner 51 --from 0 --until 200 s`: settlement 500, 51 → 90, 137, cut-off
// 200 s). Then `--partner 50 --partner 51 --from 100 s --until 200 s`: in that window only
// 50 moved (137 credited), so the position has the one account 50 and the same net; 51's
// settlement was returned as 50's, already booked, and nothing was sent: partner 50 left
// unpaid while the command exits 0 ("already booked"). Claim: a settlement of another
// account is not this position's; the booking must not call the ledger booked (before
// session 50 any settlement after the cut-off refused the booking).
func TestReview50AlreadyBookedOnlyForThePositionsAccount(t *testing.T) {
	b, booking := otherPartnersSettlement(t, 0)
	ledgers, _ := NewLedgers(nil)
	ctx := context.Background()

	partners := []model.Uint128{model.U128(50), model.U128(51)}
	both, err := Net(ctx, MemoryReader{b.ledger}, ledgers, NettingQuery{Partners: partners,
		Window: Window{From: 100 * second, Until: 200 * second}})
	if err != nil {
		t.Fatal(err)
	}
	if len(both.Positions) != 1 || len(both.Positions[0].Accounts) != 1 ||
		both.Positions[0].Accounts[0] != "50" || both.Positions[0].Net != "137" {
		t.Fatalf("positions %+v", both.Positions)
	}
	if booking.BookedAfter, err = SettlementsBookedAfter(ctx, MemoryReader{b.ledger}, partners,
		200*second, 301*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	again, already, err := both.SettlementTransfers(booking)
	if err == nil && len(again) == 0 {
		t.Fatalf("partner 50's position taken as booked by 51's settlement: nothing to book, "+
			"already booked %+v", already)
	}
	if err != nil && !errors.Is(err, ErrBooking) {
		t.Fatalf("refused for another reason: %v", err)
	}
}

// TestReview50ExpiredOnTheLogIsNotAlreadyBooked: SettlementsBookedAfter judges a
// settlement's deadline at the command's clock, while the ledger expires it at log time,
// which may run ahead of that clock (TestReviewa44SettlementBookedAfterTheCommandsClock:
// after a failover log time stays ahead for a while). Settlement 500 (timeout 30 s) is
// booked at log time 300 s; at log time 340 s the partner's account moves again, so the
// ledger has expired it (deadline 330 s: a post is refused pending_transfer_expired).
// With the command's clock at 320 s the settlement was judged in flight and the rerun
// reported the ledger "already booked" (exit 0): nothing can be confirmed, the partner is
// never paid. Claim: a deadline at or before a log time the command has read is passed,
// whatever its own clock says; the ledger is booked again.
func TestReview50ExpiredOnTheLogIsNotAlreadyBooked(t *testing.T) {
	b := nettingBook(t)
	partners := []model.Uint128{model.U128(50)}
	report := windowReport(t, b, partners, 100*second)
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
		FirstID: model.U128(500), Code: 7, Timeout: 30}
	bookOneAt300(t, b, report, booking)
	var err error
	b.at(340*second, move(30, 1, 50, 5, 1)) // Log time 340 s: 500 expires first.
	results := make([]model.TransferResult, 1)
	b.ledger.CreateTransfers(341*second, []model.Transfer{resolve(31, 500, postAll, false)},
		results)
	if results[0].Status != model.StatusPendingTransferExpired {
		t.Fatalf("posting the settlement at log time 341 s: %s", results[0].Status)
	}

	// The command's clock reads 320 s.
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
		MemoryReader{b.ledger}, partners, 200*second, 320*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	again, already, err := report.SettlementTransfers(booking)
	if err != nil || len(already) != 0 || len(again) != 1 || again[0].ID != model.U128(510) {
		t.Fatalf("a settlement the ledger expired is taken as booked: %v, to book %+v, "+
			"already booked %+v", err, again, already)
	}
}

// TestReview50SettlementOfThisCutoffThatDoesNotMatch: the two checks that keep a
// settlement of this very cut-off from counting as the position's were untested (each
// could be deleted with every test passing): one of the other direction (same amount),
// and a second one of the same cut-off, amount and direction (two runs of other ids at
// once: the partner may confirm both). Either must refuse the booking, not report the
// ledger already booked with exit 0.
func TestReview50SettlementOfThisCutoffThatDoesNotMatch(t *testing.T) {
	partners := []model.Uint128{model.U128(50)}
	settlement := func(id uint64, receivable bool) model.Transfer {
		s := pending(id, 50, 90, 137, 1, 0)
		if receivable {
			s.DebitAccountID, s.CreditAccountID = s.CreditAccountID, s.DebitAccountID
		}
		s.UserData64, s.UserData32 = 200*second, uint32(client.ClearingKindSettlement)<<24
		return s
	}
	for name, booked := range map[string][]model.Transfer{
		"the other direction": {settlement(500, true)},
		"two of this cut-off": {settlement(500, false), settlement(501, false)},
	} {
		b := nettingBook(t)
		report := windowReport(t, b, partners, 100*second)
		if report.Positions[0].Net != "137" {
			t.Fatalf("position %+v", report.Positions[0])
		}
		b.at(300*second, booked...)
		booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90)},
			FirstID: model.U128(510), Code: 7}
		var err error
		if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(),
			MemoryReader{b.ledger}, partners, 200*second, 301*second); err != nil {
			t.Fatal(err)
		}
		if len(booking.BookedAfter[1]) != len(booked) {
			t.Fatalf("%s: found %+v", name, booking.BookedAfter)
		}
		again, already, err := report.SettlementTransfers(booking)
		if !errors.Is(err, ErrBooking) {
			t.Errorf("%s: not refused (%v): to book %+v, already booked %+v", name, err,
				again, already)
		}
	}
}

// TestReview50ExpiryJudgedAtTheSettlementsOwnShard: the log time that shows a settlement
// expired must be its own shard's: each shard of a node keeps its own log time, and one
// may run ahead of another. Partner 50 is on shard 0, whose log is at 355 s, with
// settlement 500 (booked at 300 s, timeout 60 s: deadline 360 s) still confirmable;
// partner 70 is on shard 1, whose log ran ahead to 400 s. A transfer read from shard 1
// (400 s) proves nothing about shard 0's deadline: judging 500 expired by it books
// ledger 1 again while the partner can still confirm 500, and is paid twice.
func TestReview50ExpiryJudgedAtTheSettlementsOwnShard(t *testing.T) {
	account := func(id uint64, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 1}
	}
	shard0 := newBook(t, account(1, 1), account(50, 1), account(90, 1))
	shard1 := newBook(t, account(2, 3), account(70, 3), account(93, 3))
	shard0.at(110*second, move(11, 1, 50, 137, 1))
	shard1.at(120*second, move(21, 2, 70, 40, 3))
	byRange, err := shardmap.Spec{Shards: 2, Placement: "range", Ranges: "0,60"}.Build()
	if err != nil {
		t.Fatal(err)
	}
	reader := ShardedReader(byRange, (&shardBooks{books: []*book{shard0, shard1}}).query)
	ledgers, _ := NewLedgers(nil)
	partners := []model.Uint128{model.U128(50), model.U128(70)}
	report, err := Net(context.Background(), reader, ledgers, NettingQuery{Partners: partners,
		Window: Window{From: 100 * second, Until: 200 * second}})
	if err != nil || len(report.Positions) != 2 {
		t.Fatalf("positions %+v (%v)", report, err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90), 3: model.U128(93)},
		FirstID: model.U128(500), Code: 7, Timeout: 60}
	first, _, err := report.SettlementTransfers(booking)
	if err != nil || len(first) != 2 || first[0].Ledger != 1 {
		t.Fatalf("settlements %+v (%v)", first, err)
	}
	shard0.at(300*second, first[0]) // Ledger 3's (501) was refused.
	shard1.at(400*second, move(22, 2, 70, 1, 3))

	// The command's clock reads 320 s.
	if booking.BookedAfter, err = SettlementsBookedAfter(context.Background(), reader,
		partners, 200*second, 320*second); err != nil {
		t.Fatal(err)
	}
	booking.FirstID = model.U128(510)
	again, _, err := report.SettlementTransfers(booking)
	for _, settlement := range again {
		if settlement.Ledger == 1 {
			shard0.at(355*second, resolve(31, 500, postAll, false), settlement)
			t.Fatalf("ledger 1 booked again (%s) while its settlement 500 can still be "+
				"confirmed on shard 0 (confirmed at 355 s)", settlement.ID)
		}
	}
	if err != nil || len(again) != 1 {
		t.Fatalf("ledger 3 not booked: %+v (%v)", again, err)
	}
}
