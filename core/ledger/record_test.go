package ledger

import (
	"bytes"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// markedPendingZero reports whether the stored record of account id carries
// accountPendingZero.
func (f *fixture) markedPendingZero(id uint64) bool {
	f.t.Helper()
	index, found := f.ledger.findAccount(model.U128(id))
	if !found {
		f.t.Fatalf("account %d not found", id)
	}
	return f.ledger.accounts.at(index).pendingZero()
}

// checkMarkers requires every record's marker to tell the truth (CheckReservations) and
// accounts 1 and 2 to be marked exactly as want says.
func (f *fixture) checkMarkers(step string, want bool) {
	f.t.Helper()
	if err := f.ledger.CheckReservations(); err != nil {
		f.t.Fatalf("%s: %v", step, err)
	}
	for _, id := range []uint64{1, 2} {
		if got := f.markedPendingZero(id); got != want {
			f.t.Fatalf("%s: account %d marked %t, want %t", step, id, got, want)
		}
	}
}

// TestPendingZeroMarkerFollowsThePendingBalances walks two accounts through every way a
// pending balance changes (pending transfer, post, void, expiry, a linked chain rolled
// back, a reservation and its release) and checks after each: the marker is cleared by
// every addition and set again when both balances are back to zero, and a plain
// transfer's result carries the pending balances the accounts hold (the plain path reads
// them only when the marker is clear).
func TestPendingZeroMarkerFollowsThePendingBalances(t *testing.T) {
	f := newFixture(t)
	f.checkMarkers("created", true)

	f.expect(model.StatusOK, pending(10, 1, 2, 5, 0))
	f.checkMarkers("pending", false)
	result := f.expect(model.StatusOK, transfer(11, 1, 2, 3))
	if result.DebitAccount.DebitsPending != model.U128(5) ||
		result.CreditAccount.CreditsPending != model.U128(5) {
		t.Fatalf("plain transfer beside a pending one: result balances %+v and %+v, want "+
			"pending 5 on both", result.DebitAccount, result.CreditAccount)
	}
	f.expect(model.StatusOK, post(12, 10, model.U128(5)))
	f.checkMarkers("posted", true)

	f.expect(model.StatusOK, pending(13, 1, 2, 7, 0))
	f.expect(model.StatusOK, void(14, 13))
	f.checkMarkers("voided", true)

	f.expect(model.StatusOK, pending(15, 1, 2, 9, 1))
	f.checkMarkers("pending with a timeout", false)
	if expired := f.tick(2 * second); expired != 1 {
		t.Fatalf("%d transfers expired, want 1", expired)
	}
	f.checkMarkers("expired", true)

	// A chain whose pending transfer is rolled back: the undo restores zero balances.
	linked := pending(16, 1, 2, 4, 0)
	linked.Flags |= model.TransferLinked
	results := f.transfers(linked, transfer(17, 1, 99, 1))
	if results[0].Status != model.StatusLinkedEventFailed {
		t.Fatalf("chain: %s, want linked_event_failed", results[0].Status)
	}
	f.checkMarkers("chain rolled back", true)

	// The same chain with a pending transfer already in force on both accounts: rolled
	// back, the accounts keep their pending balances and stay unmarked.
	f.expect(model.StatusOK, pending(18, 1, 2, 6, 0))
	results = f.transfers(with(linked, func(t *model.Transfer) { t.ID = model.U128(19) }),
		transfer(20, 1, 99, 1))
	if results[0].Status != model.StatusLinkedEventFailed {
		t.Fatalf("chain: %s, want linked_event_failed", results[0].Status)
	}
	f.checkMarkers("chain rolled back beside a pending transfer", false)
	f.expect(model.StatusOK, void(21, 18))
	f.checkMarkers("voided after the chain", true)

	// Restore sets the marker from the balances.
	f.expect(model.StatusOK, pending(22, 1, 2, 2, 0))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{HashSeed: 99}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = restored
	f.checkMarkers("restored with a pending transfer", false)
	if !f.markedPendingZero(3) {
		t.Fatal("restored account 3, without pending balances, is not marked")
	}
	f.expect(model.StatusOK, post(23, 22, model.U128(2)))
	f.checkMarkers("posted after the restore", true)
}

// TestPendingZeroMarkerAfterReservations: a reservation adds to both accounts' pending
// balances (the payer's and the escrow's) and clears their markers; its release sets them
// again.
func TestPendingZeroMarkerAfterReservations(t *testing.T) {
	f, escrow := reservationFixture(t)
	escrowIndex, _ := f.ledger.findAccount(escrow)
	escrowMarked := func() bool { return f.ledger.accounts.at(escrowIndex).pendingZero() }
	if !f.markedPendingZero(1) || !escrowMarked() {
		t.Fatal("accounts without pending balances are not marked")
	}
	if got := f.system(reservation(SystemReserve, 1, escrow, 10))[0]; got != model.StatusOK {
		t.Fatalf("reserve: %s", got)
	}
	if f.markedPendingZero(1) || escrowMarked() {
		t.Fatal("a reservation left an account marked")
	}
	if got := f.system(reservation(SystemRelease, 1, escrow, 10))[0]; got != model.StatusOK {
		t.Fatalf("release: %s", got)
	}
	if !f.markedPendingZero(1) || !escrowMarked() {
		t.Fatal("released whole, the accounts are not marked again")
	}
}

// TestPlainTransferChecksOverflowOfPendingBalances: with pending balances of 2^128 - 2 on
// accounts 1 (debits) and 2 (credits), a plain transfer of 2 from 1, or to 2, must be
// refused (pending plus posted would overflow). The amount and the posted balances are
// small, so only reading the pending balance tells: the addition must have cleared the
// marker, or smallAmounts would let the transfer through.
func TestPlainTransferChecksOverflowOfPendingBalances(t *testing.T) {
	f := newFixture(t)
	large := model.Uint128{Lo: ^uint64(0) - 1, Hi: ^uint64(0)}
	f.expect(model.StatusOK, with(pending(10, 1, 2, 0, 0),
		func(t *model.Transfer) { t.Amount = large }))
	f.accounts(model.StatusOK, model.Account{ID: model.U128(7), Ledger: 1, Code: 10})
	f.expect(model.StatusOverflowsDebits, transfer(11, 1, 7, 2))
	f.expect(model.StatusOverflowsCredits, transfer(12, 7, 2, 2))
	f.expect(model.StatusOK, transfer(13, 1, 7, 1))
	f.expect(model.StatusOK, transfer(14, 7, 2, 1))
}

// TestPendingZeroMarkerNeverLeaves: no account handed out (lookups, the iterator, account
// events, AccountAs, snapshots) carries the in-memory marker, and a retried creation of
// a marked account still answers exists (the marker is no flag of the account).
func TestPendingZeroMarkerNeverLeaves(t *testing.T) {
	f := newFixture(t)
	var buffer event.Buffer
	f.ledger.SetEvents(&buffer)
	created := model.Account{ID: model.U128(40), Ledger: 1, Code: 10}
	f.accounts(model.StatusOK, created)
	f.accounts(model.StatusExists, created)
	if !f.markedPendingZero(40) {
		t.Fatal("a new account is not marked")
	}
	check := func(where string, a *model.Account) {
		t.Helper()
		if a.Flags&accountPendingZero != 0 || a.Reserved != 0 {
			t.Fatalf("%s: account %s handed out with flags %#x, reserved %d", where, a.ID,
				a.Flags, a.Reserved)
		}
	}
	for i := range buffer.Accounts {
		check("event", &buffer.Accounts[i])
	}
	for _, a := range f.ledger.LookupAccounts([]model.Uint128{model.U128(1), model.U128(40)}, nil) {
		check("lookup", &a)
	}
	for a := range f.ledger.Accounts() {
		check("iterator", a)
	}
	if a, found, _ := f.ledger.AccountAs(0, model.ScopeRead, model.U128(40)); found {
		check("AccountAs", &a)
	} else {
		t.Fatal("AccountAs does not find account 40")
	}
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	body := encoded.Bytes()[snapshotHeaderSize:]
	for i := range f.ledger.AccountCount() {
		var a model.Account
		a.Decode(body[i*model.AccountSize:])
		check("snapshot", &a)
	}
}

// TestCheckReservationsCatchesAFalseMarker: the invariant check refuses a record marked
// while it has a pending balance (on either side).
func TestCheckReservationsCatchesAFalseMarker(t *testing.T) {
	for _, side := range []string{"debit", "credit"} {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(10, 1, 2, 5, 0))
		if err := f.ledger.CheckReservations(); err != nil {
			t.Fatal(err)
		}
		id := uint64(1)
		if side == "credit" {
			id = 2
		}
		index, _ := f.ledger.findAccount(model.U128(id))
		f.ledger.accounts.at(index).Flags |= accountPendingZero
		if f.ledger.CheckReservations() == nil {
			t.Fatalf("%s account marked with a pending balance passes the check", side)
		}
	}
}
