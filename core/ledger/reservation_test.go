package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// reservationFixture funds account 3 (debits may not exceed credits) with 100 and adds
// an escrow (a system account, as the matching engine's) on ledger 1.
func reservationFixture(t *testing.T) (*fixture, model.Uint128) {
	f, escrow := sagaFixture(t)
	f.expect(model.StatusOK, transfer(50, 1, 3, 100))
	return f, escrow
}

// system applies system events as one batch (linked when chained) and returns their
// statuses.
func (f *fixture) system(events ...model.Transfer) []model.Status {
	f.t.Helper()
	results := make([]model.TransferResult, len(events))
	f.ledger.CreateSystemTransfers(f.timestamp, events, results)
	f.timestamp += uint64(len(events))
	statuses := make([]model.Status, len(events))
	for i := range results {
		statuses[i] = results[i].Status
	}
	if err := CheckInvariants(f.ledger.Accounts()); err != nil {
		f.t.Fatal(err)
	}
	if err := f.ledger.CheckReservations(); err != nil {
		f.t.Fatal(err)
	}
	return statuses
}

func reservation(flag uint16, debit uint64, escrow model.Uint128, amount uint64) model.Transfer {
	return model.Transfer{DebitAccountID: model.U128(debit), CreditAccountID: escrow,
		Amount: model.U128(amount), Ledger: 1, Flags: flag}
}

func fromReservation(id uint64, debit uint64, escrow model.Uint128, amount uint64) model.Transfer {
	return model.Transfer{ID: model.Uint128{Hi: 1 << 63, Lo: id}, DebitAccountID: model.U128(debit),
		CreditAccountID: escrow, Amount: model.U128(amount), Ledger: 1, Code: 1,
		Flags: model.TransferFromReservation}
}

// TestReservationOutcomes: reserving answers what a pending transfer of the amount would
// (funds, closed account, overflow), moves debits_pending and the escrow's
// credits_pending and stores no transfer; releasing and paying from a reservation move
// them back; a fill paid from a reservation is a stored transfer with the flag.
func TestReservationOutcomes(t *testing.T) {
	f, escrow := reservationFixture(t)
	transfersBefore := f.ledger.TransferCount()
	cases := []struct {
		name  string
		event model.Transfer
		want  model.Status
	}{
		{"more than the credits", reservation(SystemReserve, 3, escrow, 101), model.StatusExceedsCredits},
		{"closed account", reservation(SystemReserve, 6, escrow, 1), model.StatusDebitAccountAlreadyClosed},
		{"within the credits", reservation(SystemReserve, 3, escrow, 60), model.StatusOK},
		{"the rest would exceed", reservation(SystemReserve, 3, escrow, 41), model.StatusExceedsCredits},
		{"release part", reservation(SystemRelease, 3, escrow, 10), model.StatusOK},
		{"overflow", with(reservation(SystemReserve, 1, escrow, 0), func(t *model.Transfer) {
			t.Amount = model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0)}
		}), model.StatusOverflowsCreditsPending},
	}
	for _, c := range cases {
		if got := f.system(c.event)[0]; got != c.want {
			t.Fatalf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if f.ledger.TransferCount() != transfersBefore {
		t.Fatal("a reservation stored a transfer")
	}
	if got := f.balance(3).DebitsPending; got != model.U128(50) {
		t.Fatalf("debits_pending %s, want 50", got)
	}
	if got := f.ledger.Reserved(model.U128(3)); got != model.U128(50) {
		t.Fatalf("reserved %s, want 50", got)
	}
	if got := f.system(fromReservation(1, 3, escrow, 30))[0]; got != model.StatusOK {
		t.Fatalf("fill from the reservation: %s", got)
	}
	b := f.balance(3)
	if b.DebitsPending != model.U128(20) || b.DebitsPosted != model.U128(30) {
		t.Fatalf("after the fill: %+v, want 20 pending and 30 posted", b)
	}
	stored := f.ledger.LookupTransfers([]model.Uint128{{Hi: 1 << 63, Lo: 1}}, nil)
	if len(stored) != 1 || stored[0].Flags != model.TransferFromReservation ||
		stored[0].Amount != model.U128(30) {
		t.Fatalf("stored fill %+v", stored)
	}
	escrowAccount := f.ledger.LookupAccounts([]model.Uint128{escrow}, nil)[0]
	if escrowAccount.CreditsPending != model.U128(20) || escrowAccount.CreditsPosted != model.U128(30) {
		t.Fatalf("escrow %+v", escrowAccount.Balance())
	}
}

// TestReservationRollsBackWithItsChain: a linked chain that reserves, pays from the
// reservation and then fails leaves balances, reserved totals and transfers as before.
func TestReservationRollsBackWithItsChain(t *testing.T) {
	f, escrow := reservationFixture(t)
	f.system(reservation(SystemReserve, 3, escrow, 40))
	digest := f.ledger.Digest()
	linked := func(t model.Transfer) model.Transfer { t.Flags |= model.TransferLinked; return t }
	got := f.system(linked(reservation(SystemReserve, 3, escrow, 20)),
		linked(fromReservation(2, 3, escrow, 50)),
		linked(reservation(SystemRelease, 3, escrow, 5)),
		reservation(SystemReserve, 3, escrow, 80)) // Exceeds the credits: the chain fails.
	want := []model.Status{model.StatusLinkedEventFailed, model.StatusLinkedEventFailed,
		model.StatusLinkedEventFailed, model.StatusExceedsCredits}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %s, want %s", i, got[i], want[i])
		}
	}
	if f.ledger.Digest() != digest || f.ledger.Reserved(model.U128(3)) != model.U128(40) {
		t.Fatal("the failed chain left a change behind")
	}
}

// TestFromReservationIsSystemOnly: a client may not set from_reservation (its own code,
// after reserved_flag), nor the internal reservation bits (reserved_flag), nor a saga
// step the flag.
func TestFromReservationIsSystemOnly(t *testing.T) {
	f, _ := reservationFixture(t)
	f.expect(model.StatusReservedFlagFromReservation, with(transfer(60, 3, 2, 1),
		func(t *model.Transfer) { t.Flags = model.TransferFromReservation }))
	f.expect(model.StatusReservedFlag, with(transfer(61, 3, 2, 1),
		func(t *model.Transfer) { t.Flags = model.TransferFromReservation | 1<<9 }))
	f.expect(model.StatusReservedFlag, with(transfer(62, 3, 2, 1),
		func(t *model.Transfer) { t.Flags = SystemReserve }))
	if got := f.saga(with(transfer(63, 3, 2, 1), func(t *model.Transfer) {
		t.Flags = model.TransferFromReservation
	}))[0].Status; got != model.StatusReservedFlagFromReservation {
		t.Fatalf("saga step with from_reservation: %s", got)
	}
	if CheckTransferHeader(&model.Transfer{ID: model.U128(1),
		Flags: model.TransferFromReservation}) != model.StatusReservedFlagFromReservation {
		t.Fatal("CheckTransferHeader accepts from_reservation")
	}
}

// TestCheckReservationsCatchesADrift: a reserved total that the balances do not explain
// is reported.
func TestCheckReservationsCatchesADrift(t *testing.T) {
	f, escrow := reservationFixture(t)
	f.expect(model.StatusOK, pending(70, 1, 2, 5, 0))
	f.system(reservation(SystemReserve, 3, escrow, 40))
	f.ledger.reserved.set(2, model.U128(39))
	if f.ledger.CheckReservations() == nil {
		t.Fatal("a reserved total below debits_pending passed")
	}
}

// TestReservationSnapshots: reserved totals survive a snapshot (version 3); a version-2
// file (no reserved section) restores with every total 0; a damaged section is refused.
func TestReservationSnapshots(t *testing.T) {
	f, escrow := reservationFixture(t)
	var plain bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&plain); err != nil {
		t.Fatal(err)
	}
	// Version 2: the same bytes without the (empty) reserved section.
	old := append([]byte(nil), plain.Bytes()[:plain.Len()-4]...)
	binary.LittleEndian.PutUint32(old[8:], 2)
	restored, err := Restore(Config{}, bytes.NewReader(old))
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if restored.Digest() != f.ledger.Digest() {
		t.Fatal("version 2 restores another state")
	}

	f.system(reservation(SystemReserve, 3, escrow, 40))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	good := encoded.Bytes()
	restored, err = Restore(Config{}, bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != f.ledger.Digest() || restored.Reserved(model.U128(3)) != model.U128(40) {
		t.Fatal("the reserved total did not survive the snapshot")
	}
	section := len(good) - reservedRecordSize
	for _, c := range []struct {
		name   string
		damage func(b []byte)
	}{
		{"account out of range", func(b []byte) { binary.LittleEndian.PutUint32(b[section:], 99) }},
		{"another account", func(b []byte) { binary.LittleEndian.PutUint32(b[section:], 0) }},
		{"zero total", func(b []byte) { clear(b[section+4:]) }},
		{"total the balances do not explain", func(b []byte) { b[section+4]++ }},
		{"count without records", func(b []byte) { binary.LittleEndian.PutUint32(b[section-4:], 2) }},
	} {
		damaged := append([]byte(nil), good...)
		c.damage(damaged)
		if _, err := Restore(Config{}, bytes.NewReader(damaged)); !errors.Is(err, ErrSnapshotInvalid) {
			t.Fatalf("%s: %v, want ErrSnapshotInvalid", c.name, err)
		}
	}
	// A version-2 file whose balances hold a reservation is refused: nothing explains them.
	old = append([]byte(nil), good[:section-4]...)
	binary.LittleEndian.PutUint32(old[8:], 2)
	if _, err := Restore(Config{}, bytes.NewReader(old)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("version 2 with unexplained pending balances: %v", err)
	}
}

// reservationModel is what a trader account (debits may not exceed credits) and the
// escrow should hold, kept the naive way.
type reservationModel struct {
	credits      [4]uint64 // Per trader (1..3): credits posted (fixed).
	debitsPosted [4]uint64
	reserved     [4]uint64
	escrowPosted uint64
}

// TestReservationsAgainstAModel applies random batches of reserve, release and
// from_reservation events on three traders, alone or as one linked chain, and compares
// every status, every balance and every reserved total with the model; the ledger's
// invariants and CheckReservations hold after every batch.
func TestReservationsAgainstAModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		f, escrow := sagaFixture(t)
		var m reservationModel
		for trader := uint64(1); trader <= 3; trader++ {
			id := 100 + trader
			f.accounts(model.StatusOK, model.Account{ID: model.U128(id), Ledger: 1, Code: 10,
				Flags: model.AccountDebitsMustNotExceedCredits})
			m.credits[trader] = rapid.Uint64Range(0, 1000).Draw(rt, "credits")
			f.expect(model.StatusOK, transfer(1000+trader, 1, id, m.credits[trader]))
		}
		sequence := uint64(0)
		for range rapid.IntRange(1, 30).Draw(rt, "batches") {
			linked := rapid.Bool().Draw(rt, "linked")
			count := rapid.IntRange(1, 4).Draw(rt, "events")
			next := m
			events := make([]model.Transfer, count)
			want := make([]model.Status, count)
			failed := -1
			for i := range events {
				trader := rapid.Uint64Range(1, 3).Draw(rt, "trader")
				amount := rapid.Uint64Range(0, 600).Draw(rt, "amount")
				switch rapid.IntRange(0, 2).Draw(rt, "kind") {
				case 0:
					events[i] = reservation(SystemReserve, 100+trader, escrow, amount)
					want[i] = model.StatusOK
					if next.debitsPosted[trader]+next.reserved[trader]+amount > next.credits[trader] {
						want[i] = model.StatusExceedsCredits
					} else {
						next.reserved[trader] += amount
					}
				case 1:
					amount = min(amount, next.reserved[trader])
					events[i] = reservation(SystemRelease, 100+trader, escrow, amount)
					next.reserved[trader] -= amount
				default:
					amount = min(amount, next.reserved[trader])
					sequence++
					events[i] = fromReservation(sequence, 100+trader, escrow, amount)
					next.reserved[trader] -= amount
					next.debitsPosted[trader] += amount
					next.escrowPosted += amount
				}
				if linked && i < count-1 {
					events[i].Flags |= model.TransferLinked
				}
				if want[i] != model.StatusOK && failed < 0 {
					failed = i
				}
				if linked && failed >= 0 {
					break // Events after a failure in a chain are not evaluated.
				}
			}
			if linked && failed >= 0 {
				count = failed + 1
				events = events[:count]
				events[count-1].Flags &^= model.TransferLinked
				for i := range count - 1 {
					want[i] = model.StatusLinkedEventFailed
				}
				next = m // The chain is undone.
			}
			got := f.system(events...)
			for i := range got {
				if got[i] != want[i] {
					rt.Fatalf("event %d (%+v): %s, want %s", i, events[i], got[i], want[i])
				}
			}
			m = next
			var escrowPending uint64
			for trader := uint64(1); trader <= 3; trader++ {
				b := f.balance(100 + trader)
				if b.DebitsPending != model.U128(m.reserved[trader]) ||
					b.DebitsPosted != model.U128(m.debitsPosted[trader]) ||
					f.ledger.Reserved(model.U128(100+trader)) != model.U128(m.reserved[trader]) {
					rt.Fatalf("trader %d: %+v, reserved %s; want pending %d, posted %d", trader,
						b, f.ledger.Reserved(model.U128(100+trader)), m.reserved[trader],
						m.debitsPosted[trader])
				}
				escrowPending += m.reserved[trader]
			}
			e := f.ledger.LookupAccounts([]model.Uint128{escrow}, nil)[0]
			if e.CreditsPending != model.U128(escrowPending) || e.CreditsPosted != model.U128(m.escrowPosted) {
				rt.Fatalf("escrow %+v, want pending %d, posted %d", e.Balance(), escrowPending,
					m.escrowPosted)
			}
		}
	})
}

// TestSystemVoidsPassTheTransfersLimit: at the transfers limit, the matching engine's
// void of one of its legacy holds (a pending system transfer from before reservations)
// still happens, as a release would (without it the engine panicked on a cancel: match's
// TestLegacyHoldsEndAtTheTransfersLimit); its posts, and a client's void, are still
// refused.
func TestSystemVoidsPassTheTransfersLimit(t *testing.T) {
	f, escrow := reservationFixture(t)
	system := func(id uint64) model.Uint128 { return model.Uint128{Hi: 1 << 63, Lo: id} }
	hold := func(id uint64) model.Transfer {
		return model.Transfer{ID: system(id), DebitAccountID: model.U128(3), CreditAccountID: escrow,
			Amount: model.U128(10), Ledger: 1, Code: 1, Flags: model.TransferPending}
	}
	f.expect(model.StatusOK, pending(80, 1, 2, 5, 0))
	if got := f.system(hold(1), hold(2)); got[0] != model.StatusOK || got[1] != model.StatusOK {
		t.Fatalf("holds: %v", got)
	}
	f.ledger.config.TransfersMax = uint32(f.ledger.TransferCount())
	f.expect(model.StatusTransfersLimitReached, void(81, 80))
	systemPost := model.Transfer{ID: system(3), PendingID: system(1), Amount: model.U128(10),
		Flags: model.TransferPostPending}
	if got := f.system(systemPost)[0]; got != model.StatusTransfersLimitReached {
		t.Fatalf("system post at the limit: %s", got)
	}
	systemVoid := model.Transfer{ID: system(4), PendingID: system(2),
		Flags: model.TransferVoidPending}
	if got := f.system(systemVoid)[0]; got != model.StatusOK {
		t.Fatalf("system void at the limit: %s", got)
	}
	if got := f.balance(3).DebitsPending; got != model.U128(10) {
		t.Fatalf("debits_pending %s after the void, want 10", got)
	}
}
