package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestSettle50PartlyRefusedBookingCompletedByARerun: a booking of two ledgers whose
// second settlement is refused (the operator's settlement account 91 closed) books ledger
// 1 alone and exits 1. Once the account is reopened, running the booking again refused
// everything before sending (ledger 1's settlement, booked after the cut-off, blocked the
// whole window), so ledger 2 could never be settled for that window. Now the rerun leaves
// ledger 1 alone (already booked for this cut-off) and books ledger 2: with the same
// --settlement-id its id answers id_already_failed (the ledger keeps a refused id), which
// the command says, and with a new one ledger 2 is booked and nothing twice.
func TestSettle50PartlyRefusedBookingCompletedByARerun(t *testing.T) {
	ctx, c, book := twoLedgersToSettle(t)
	// Close the operator's account 91: the settlement crediting it will be refused.
	closing := model.Transfer{ID: model.U128(3), DebitAccountID: model.U128(20),
		CreditAccountID: model.U128(91), Ledger: 2, Code: 1,
		Flags: model.TransferPending | model.TransferClosingCredit}
	createOK(t, ctx, c, closing)
	output, err := book("900")
	if !errors.Is(err, errEventsFailed) || !settlementsAre(t, ctx, c, 900) {
		t.Fatalf("first booking: %v\n%s", err, output)
	}
	if !strings.Contains(output, "ledger 2") || !strings.Contains(output, "credit_account_already_closed") ||
		!strings.Contains(output, "new --settlement-id") {
		t.Errorf("the refusal does not tell what was refused and what to do:\n%s", output)
	}
	// The operator reopens the account (voids the closing transfer).
	createOK(t, ctx, c, model.Transfer{ID: model.U128(4), PendingID: model.U128(3),
		Flags: model.TransferVoidPending})

	// The same command again: ledger 1 is not booked again, ledger 2's id 901 stays refused.
	output, err = book("900")
	if !errors.Is(err, errEventsFailed) || !settlementsAre(t, ctx, c, 900) {
		t.Fatalf("rerun with the same ids: %v\n%s", err, output)
	}
	if !strings.Contains(output, "settlement 900 (ledger 1, 700 50 → 90): already booked") ||
		!strings.Contains(output, "id_already_failed") ||
		!strings.Contains(output, "new --settlement-id") {
		t.Errorf("the rerun does not say what is booked and what to do:\n%s", output)
	}

	// A new --settlement-id: ledger 2 booked as 911 (its index), ledger 1 left as 900.
	output, err = book("910")
	if err != nil || !settlementsAre(t, ctx, c, 900, 911) {
		t.Fatalf("rerun with new ids: %v\n%s", err, output)
	}
	if !strings.Contains(output, "settlement 900 (ledger 1, 700 50 → 90): already booked") ||
		!strings.Contains(output, "settlement 911 (ledger 2, 300 60 → 91): created") ||
		!strings.Contains(output, "booked: ledger 2; already booked: ledger 1; refused: none") {
		t.Errorf("the completing run's summary:\n%s", output)
	}
	// Once more: nothing left to book, nothing booked, exit 0.
	output, err = book("920")
	if err != nil || !settlementsAre(t, ctx, c, 900, 911) ||
		!strings.Contains(output, "booked: none; already booked: ledgers 1, 2; refused: none") {
		t.Fatalf("a run with everything booked: %v\n%s", err, output)
	}
}

// TestSettle50RebookingAVoidedSettlementsIDIsNotBooked: a settlement the partner disputed
// (voided) paid nothing, so the window may be booked again; booked with the same id the
// ledger answers exists (the voided transfer has identical fields), which the command
// printed as "already exists, identical" and exited 0 with nothing in flight: the
// operator thinks the window is booked. It must say the settlement is not booked.
func TestSettle50RebookingAVoidedSettlementsIDIsNotBooked(t *testing.T) {
	ctx, c, book := windowBookedOnce(t)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(901), PendingID: model.U128(900),
		Flags: model.TransferVoidPending})
	output, err := book("900")
	if !errors.Is(err, errEventsFailed) {
		t.Fatalf("a voided settlement's id answered as booked (%v):\n%s", err, output)
	}
	if !strings.Contains(output, "voided or expired") {
		t.Errorf("the refusal does not say why:\n%s", output)
	}
}

// twoLedgersToSettle starts a settlement node of one shard where partner 50 is owed 7.00
// on ledger 1 and partner 60 3.00 on ledger 2, takes a cut-off after those transfers, and
// returns a context bounded to a minute, the client, and book, which books that window
// (via 90 and 91) with a --settlement-id.
func twoLedgersToSettle(t *testing.T) (context.Context, *client.Client,
	func(id string) (string, error)) {
	t.Helper()
	_, c, common := settleNode(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(10),
		CreditAccountID: model.U128(50), Amount: model.U128(700), Ledger: 1, Code: 1},
		model.Transfer{ID: model.U128(2), DebitAccountID: model.U128(20),
			CreditAccountID: model.U128(60), Amount: model.U128(300), Ledger: 2, Code: 1})
	time.Sleep(time.Millisecond) // The cut-off after the transfers' timestamps.
	cutoff := strconv.FormatInt(time.Now().UnixNano(), 10)
	time.Sleep(time.Millisecond) // The bookings after the cut-off, as they would be.
	book := func(id string) (string, error) {
		return runRoot(t, append([]string{"settle", "--partner", "50,60", "--until", cutoff,
			"--book", "--via", "90,91", "--settlement-id", id, "--code", "9"}, common...)...)
	}
	return ctx, c, book
}

// createOK creates transfers and fails the test unless each is created.
func createOK(t *testing.T, ctx context.Context, c *client.Client, transfers ...model.Transfer) {
	t.Helper()
	results, err := c.CreateTransfers(ctx, transfers)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("transfer %s: %s", transfers[i].ID, result.Status)
		}
	}
}

// settlementsAre reports whether, of the ids 900…929, exactly those given exist.
func settlementsAre(t *testing.T, ctx context.Context, c *client.Client, ids ...uint64) bool {
	t.Helper()
	var all []model.Uint128
	for id := uint64(900); id < 930; id++ {
		all = append(all, model.U128(id))
	}
	found, err := c.LookupTransfers(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, transfer := range found {
		got = append(got, transfer.ID.Lo)
	}
	if len(got) != len(ids) {
		t.Logf("settlements %v, want %v", got, ids)
		return false
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Logf("settlements %v, want %v", got, ids)
			return false
		}
	}
	return true
}
