package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"sequent/core/model"
)

// The tests in this file pin edges that mutation testing (tools/mutation) found
// unguarded: a comparison moved by one, a status swapped for its neighbour or a check
// dropped there passed every other test.

// TestVoidRetriesAnswerExists: a void stores the pending amount whatever amount it was
// sent with (0, the pending amount or 2^128-1), so a retry with any of the three means
// the same void and answers exists with the original timestamp; any other amount is a
// different transfer.
func TestVoidRetriesAnswerExists(t *testing.T) {
	for _, sent := range []model.Uint128{{}, model.U128(50), model.Uint128Max} {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
		original := f.expect(model.StatusOK, with(void(8, 7), func(t *model.Transfer) { t.Amount = sent }))
		for _, retried := range []model.Uint128{{}, model.U128(50), model.Uint128Max} {
			retry := f.expect(model.StatusExists, with(void(8, 7), func(t *model.Transfer) { t.Amount = retried }))
			if retry.Timestamp != original.Timestamp {
				t.Fatalf("void sent with %s, retried with %s: timestamp %d, want the original %d",
					sent, retried, retry.Timestamp, original.Timestamp)
			}
		}
		f.expect(model.StatusExistsWithDifferentAmount, with(void(8, 7), func(t *model.Transfer) {
			t.Amount = model.U128(49)
		}))
	}
}

// TestAccountClosedByTransferStillExists: the closed flag a closing transfer set is not
// part of the account's identity, so re-creating it with the fields it was created with
// answers exists (a client retrying its create after the close), not
// exists_with_different_flags; a real flag difference still is one.
func TestAccountClosedByTransferStillExists(t *testing.T) {
	f := newFixture(t)
	// Account 1 has no flags; account 4 has credits_must_not_exceed_debits and history.
	for id, account := range map[uint64]model.Account{
		1: {ID: model.U128(1), Ledger: 1, Code: 10},
		4: {ID: model.U128(4), Ledger: 1, Code: 10,
			Flags: model.AccountCreditsMustNotExceedDebits | model.AccountHistory},
	} {
		f.expect(model.StatusOK, with(pending(100+id, id, 2, 5, 0), func(t *model.Transfer) {
			t.Flags |= model.TransferClosingDebit
		}))
		if f.account(id).Flags&model.AccountClosed == 0 {
			t.Fatalf("account %d not closed", id)
		}
		f.accounts(model.StatusExists, account)
		changed := account
		changed.Flags ^= model.AccountHistory
		f.accounts(model.StatusExistsWithDifferentFlags, changed)
	}
}

// TestTransfersLimitReachedOnPostAndVoid: a post or a void stores a transfer too, so a
// full ledger refuses them with transfers_limit_reached (and leaves the pending transfer
// pending), exactly as it refuses a new transfer.
func TestTransfersLimitReachedOnPostAndVoid(t *testing.T) {
	for _, resolve := range []model.Transfer{post(8, 7, model.Uint128Max), void(8, 7)} {
		f := newFixture(t)
		f.ledger = New(Config{TransfersMax: 1})
		f.accounts(model.StatusOK, model.Account{ID: model.U128(1), Ledger: 1, Code: 10},
			model.Account{ID: model.U128(2), Ledger: 1, Code: 10})
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
		f.expect(model.StatusTransfersLimitReached, resolve)
		if b := f.balance(1); b.DebitsPending != model.U128(50) || !b.DebitsPosted.IsZero() {
			t.Fatalf("a refused resolution changed the balance: %+v", b)
		}
	}
}

// TestPendingOverflowAlone: an amount that overflows only the pending side of an account
// (its posted side is empty, and pending + posted overflows only because pending does)
// answers overflows_debits_pending or overflows_credits_pending, not the combined
// overflows_debits or overflows_credits.
func TestPendingOverflowAlone(t *testing.T) {
	f := newFixture(t)
	f.accounts(model.StatusOK, model.Account{ID: model.U128(10), Ledger: 1, Code: 10},
		model.Account{ID: model.U128(11), Ledger: 1, Code: 10},
		model.Account{ID: model.U128(12), Ledger: 1, Code: 10})
	huge := model.Uint128Max.MustSub(model.U128(5))
	f.expect(model.StatusOK, with(pending(7, 10, 11, 0, 0), func(t *model.Transfer) { t.Amount = huge }))
	f.expect(model.StatusOK, transfer(8, 10, 12, 1)) // A little posted on both sides.
	f.expect(model.StatusOK, transfer(9, 12, 11, 1))
	f.expect(model.StatusOverflowsDebitsPending, pending(20, 10, 12, 6, 0))
	f.expect(model.StatusOverflowsCreditsPending, pending(21, 12, 11, 6, 0))
	// The same amounts posted directly overflow the combined balance instead.
	f.expect(model.StatusOverflowsDebits, transfer(22, 10, 12, 6))
	f.expect(model.StatusOverflowsCredits, transfer(23, 12, 11, 6))
	// Up to the bound fits: account 10's pending + posted debits reach 2^128-1 exactly.
	f.expect(model.StatusOK, pending(24, 10, 12, 4, 0))
}

// TestResolvingAtTheDeadline: a pending transfer is expired from its deadline on (the
// same instant Expire releases it), so a post or void whose timestamp equals the deadline
// is refused as expired even before the sweep ran, while one a nanosecond earlier
// succeeds.
func TestResolvingAtTheDeadline(t *testing.T) {
	for _, resolve := range []model.Transfer{post(8, 7, model.Uint128Max), void(8, 7)} {
		for _, early := range []uint64{0, 1} {
			f := newFixture(t)
			created := f.expect(model.StatusOK, pending(7, 1, 2, 50, 10)).Timestamp
			f.timestamp = created + 10*second - early
			want := model.StatusPendingTransferExpired
			if early == 1 {
				want = model.StatusOK
			}
			f.expect(want, resolve)
		}
	}
}

// TestDeadlineAtTheMaximumTimestamp: a deadline may be exactly the largest timestamp;
// one nanosecond more overflows the timeout. The transfer with the maximum deadline
// expires at that timestamp.
func TestDeadlineAtTheMaximumTimestamp(t *testing.T) {
	f := newFixture(t)
	f.timestamp = timestampMax - 10*second
	f.expect(model.StatusOK, pending(7, 1, 2, 50, 10))
	if deadline, ok := f.ledger.NextDeadline(); !ok || deadline != timestampMax {
		t.Fatalf("deadline %d (%v), want %d", deadline, ok, uint64(timestampMax))
	}
	f.timestamp = timestampMax - 10*second + 1
	f.expect(model.StatusOverflowsTimeout, pending(8, 1, 2, 50, 10))
	if expired := f.ledger.Expire(timestampMax-1, nil); expired != 0 {
		t.Fatalf("expired %d before the maximum deadline", expired)
	}
	if expired := f.ledger.Expire(timestampMax, nil); expired != 1 {
		t.Fatalf("expired %d at the maximum deadline, want 1", expired)
	}
}

// collidingIDs returns two different ids whose hashes share the 32-bit tag table keeps:
// a table lookup must then compare the full id and go on probing.
func collidingIDs(t *testing.T, table *idTable) (model.Uint128, model.Uint128) {
	t.Helper()
	seen := map[uint64]model.Uint128{}
	for n := uint64(1); n < 1<<22; n++ {
		id := model.U128(n << 3) // Same group bits (grouped table): only hashed bits differ.
		tag := tagOf(table.hash(id))
		if other, found := seen[tag]; found {
			return other, id
		}
		seen[tag] = id
	}
	t.Fatal("no tag collision found")
	return model.Uint128{}, model.Uint128{}
}

// TestTagCollisions: two accounts, and two transfers, whose ids share a table tag are
// both stored and both found, by creation, by transfers between them and by lookups.
// Without a full-id comparison and a further probe, the second would be taken for the
// first (an exists answer, or a transfer booked on the wrong account).
func TestTagCollisions(t *testing.T) {
	l := New(Config{HashSeed: 99})
	a, b := collidingIDs(t, &l.accountIndex)
	results := make([]model.EventResult, 3)
	l.CreateAccounts(1, []model.Account{{ID: a, Ledger: 1, Code: 1}, {ID: b, Ledger: 1, Code: 1},
		{ID: model.U128(1), Ledger: 1, Code: 1}}, results)
	for i, r := range results {
		if r.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, r.Status)
		}
	}
	x, y := collidingIDs(t, &l.transferIndex)
	transfers := []model.Transfer{
		{ID: x, DebitAccountID: a, CreditAccountID: model.U128(1), Amount: model.U128(3), Ledger: 1, Code: 1},
		{ID: y, DebitAccountID: b, CreditAccountID: model.U128(1), Amount: model.U128(5), Ledger: 1, Code: 1},
	}
	transferResults := make([]model.TransferResult, 2)
	l.CreateTransfers(10, transfers, transferResults)
	for i, r := range transferResults {
		if r.Status != model.StatusOK {
			t.Fatalf("transfer %d: %s", i, r.Status)
		}
	}
	accounts := l.LookupAccounts([]model.Uint128{a, b}, nil)
	if len(accounts) != 2 || accounts[0].DebitsPosted != model.U128(3) || accounts[1].DebitsPosted != model.U128(5) {
		t.Fatalf("accounts with colliding tags: %+v", accounts)
	}
	stored := l.LookupTransfers([]model.Uint128{x, y}, nil)
	if len(stored) != 2 || stored[0].Amount != model.U128(3) || stored[1].Amount != model.U128(5) {
		t.Fatalf("transfers with colliding tags: %+v", stored)
	}
	l.CreateTransfers(20, transfers[1:], transferResults[:1])
	if transferResults[0].Status != model.StatusExists {
		t.Fatalf("retry of the second colliding transfer: %s", transferResults[0].Status)
	}
}

// TestConfigBounds: the largest addressable AccountsMax and TransfersMax are kept; above
// them, and at 0, the defaults apply.
func TestConfigBounds(t *testing.T) {
	for _, c := range []struct {
		set, want uint32
	}{{0, AccountsMaxDefault}, {recordCountMax, recordCountMax}, {recordCountMax + 1, AccountsMaxDefault}} {
		config := Config{AccountsMax: c.set, TransfersMax: c.set}
		got := config.withDefaults()
		if got.AccountsMax != c.want || got.TransfersMax != c.want {
			t.Fatalf("maxima %d: got %d accounts, %d transfers, want %d", c.set, got.AccountsMax,
				got.TransfersMax, c.want)
		}
	}
}

// TestPostInheritsOnlyZeroFields: a post or void with zero user data, code, ledger or
// accounts takes the pending transfer's; a non-zero user data field of its own is kept.
func TestPostInheritsOnlyZeroFields(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, with(pending(7, 1, 2, 50, 0), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = model.U128(11), 12, 13
	}))
	f.expect(model.StatusOK, with(post(8, 7, model.U128(10)), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = model.U128(21), 22, 23
	}))
	f.expect(model.StatusOK, with(pending(9, 1, 2, 50, 0), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = model.U128(41), 42, 43
	}))
	f.expect(model.StatusOK, with(void(10, 9), func(t *model.Transfer) { t.UserData64 = 52 }))
	stored := f.ledger.LookupTransfers([]model.Uint128{model.U128(8), model.U128(10)}, nil)
	type userData struct {
		u128     model.Uint128
		u64      uint64
		u32      uint32
		code     uint16
		ledgerID uint32
	}
	got := []userData{{stored[0].UserData128, stored[0].UserData64, stored[0].UserData32, stored[0].Code, stored[0].Ledger},
		{stored[1].UserData128, stored[1].UserData64, stored[1].UserData32, stored[1].Code, stored[1].Ledger}}
	want := []userData{{model.U128(21), 22, 23, 1, 1}, {model.U128(41), 52, 43, 1, 1}}
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("stored post/void fields %+v, want %+v", got, want)
	}
}

// TestRestoreRefusesDamagedRecords damages, one at a time, each kind of record a
// snapshot holds beyond accounts and transfers (see the format in snapshot.go: pending
// statuses, failed ids, balance history) and expects Restore to refuse it; the undamaged
// snapshot restores.
func TestRestoreRefusesDamagedRecords(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(7, 4, 1, 5))    // Account 4 keeps history: one record.
	f.expect(model.StatusOK, pending(8, 1, 2, 10, 3)) // Pending, with a timeout.
	f.expect(model.StatusExceedsCredits, transfer(20, 3, 1, 5))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	good := encoded.Bytes()
	const accounts, transfers = 6, 2
	pendingAt := transfersOffset(accounts) + transfers*model.TransferSize
	failedAt := pendingAt + transfers
	historyAt := failedAt + model.IDSize
	reservedAt := historyAt + historyRecordSize // The count of the (empty) reserved section.
	if len(good) != reservedAt+4 {
		t.Fatalf("snapshot of %d bytes, want %d: the layout this test assumes changed", len(good),
			reservedAt+4)
	}
	putU32 := func(offset int, v uint32) func(b []byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[offset:], v) }
	}
	for _, c := range []struct {
		name   string
		damage func(b []byte)
	}{
		{"history of an account out of range", putU32(historyAt+72, accounts)},
		{"history of a transfer out of range", putU32(historyAt+76, transfers)},
		{"history of an account far out of range", putU32(historyAt+72, 1<<31)},
		{"history of a transfer far out of range", putU32(historyAt+76, 1<<31)},
		{"history of an account without the history flag", putU32(historyAt+72, 0)},
		{"history timestamp not the transfer's", func(b []byte) { b[historyAt+64]++ }},
		{"pending status on a single-phase transfer", func(b []byte) { b[pendingAt] = byte(pendingActive) }},
		{"unknown pending status", func(b []byte) { b[pendingAt+1] = byte(pendingExpired) + 1 }},
		{"failed id that is also a transfer", func(b []byte) { model.U128(7).PutLE(b[failedAt:]) }},
		{"failed id zero", func(b []byte) { clear(b[failedAt : failedAt+model.IDSize]) }},
		{"grants counted but absent", putU32(28, 1)},
		{"reserved totals counted but absent", putU32(reservedAt, 1)},
		{"another format version", putU32(8, snapshotVersion+1)},
		{"account without a ledger", editAccount(2, func(a *model.Account) { a.Ledger = 0 })}, // No transfers.
		{"transfer 1 after the largest timestamp", editTransfer(accounts, 1, func(t *model.Transfer) {
			t.Timestamp = timestampMax + 1
		})},
		{"transfer from an unknown account", editTransfer(accounts, 0, func(t *model.Transfer) {
			t.DebitAccountID = model.U128(99)
		})},
		{"transfer to an unknown account", editTransfer(accounts, 0, func(t *model.Transfer) {
			t.CreditAccountID = model.U128(99)
		})},
		{"transfer from an account to itself", editTransfer(accounts, 0, func(t *model.Transfer) {
			t.CreditAccountID = t.DebitAccountID
		})},
	} {
		damaged := append([]byte(nil), good...)
		c.damage(damaged)
		_, err := Restore(Config{}, bytes.NewReader(damaged))
		if !errors.Is(err, ErrSnapshotInvalid) {
			t.Fatalf("%s: %v, want ErrSnapshotInvalid", c.name, err)
		}
		if strings.HasPrefix(c.name, "transfer 1 ") && !strings.Contains(err.Error(), "transfer 1 ") {
			t.Fatalf("%s: %v does not name transfer 1", c.name, err)
		}
	}
	if _, err := Restore(Config{}, bytes.NewReader(good)); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
	var counted bytes.Buffer
	if n, err := f.ledger.Snapshot().WriteTo(&counted); err != nil || n != int64(counted.Len()) {
		t.Fatalf("WriteTo says %d bytes, wrote %d (%v)", n, counted.Len(), err)
	}
}

// TestRestoreKeepsTheMaximumDeadline: a pending transfer whose deadline is exactly the
// largest timestamp is valid, in a snapshot as when it was created.
func TestRestoreKeepsTheMaximumDeadline(t *testing.T) {
	f := newFixture(t)
	f.timestamp = timestampMax - 10*second
	f.expect(model.StatusOK, pending(7, 1, 2, 50, 10))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if deadline, ok := restored.NextDeadline(); !ok || deadline != timestampMax {
		t.Fatalf("restored deadline %d (%v), want %d", deadline, ok, uint64(timestampMax))
	}
	// One second more overflows: such a snapshot is damaged.
	damaged := append([]byte(nil), encoded.Bytes()...)
	record := damaged[transfersOffset(6):][:model.TransferSize]
	var pendingTransfer model.Transfer
	pendingTransfer.Decode(record)
	pendingTransfer.Timeout++
	pendingTransfer.Encode(record)
	if _, err := Restore(Config{}, bytes.NewReader(damaged)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("a deadline past the largest timestamp: %v, want ErrSnapshotInvalid", err)
	}
}

// TestAccountTransfersFilterFields: each filter field narrows the listing only when it is
// set: zero user data and code match every transfer, a set one only its own.
func TestAccountTransfersFilterFields(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, with(transfer(7, 1, 2, 1), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = model.U128(70), 71, 72
	}))
	f.expect(model.StatusOK, with(transfer(8, 1, 2, 1), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32, t.Code = model.U128(80), 81, 82, 2
	}))
	ids := func(change func(*model.AccountFilter)) []uint64 {
		filter := model.AccountFilter{AccountID: model.U128(1), Limit: 10,
			Flags: model.FilterDebits | model.FilterCredits}
		change(&filter)
		found, status := f.ledger.GetAccountTransfers(&filter, nil)
		if status != model.StatusOK {
			t.Fatalf("filter %+v: %s", filter, status)
		}
		var list []uint64
		for _, transfer := range found {
			list = append(list, transfer.ID.Lo)
		}
		return list
	}
	for _, c := range []struct {
		name   string
		change func(*model.AccountFilter)
		want   []uint64
	}{
		{"no field set", func(*model.AccountFilter) {}, []uint64{7, 8}},
		{"user data 128", func(a *model.AccountFilter) { a.UserData128 = model.U128(80) }, []uint64{8}},
		{"user data 64", func(a *model.AccountFilter) { a.UserData64 = 71 }, []uint64{7}},
		{"user data 32", func(a *model.AccountFilter) { a.UserData32 = 82 }, []uint64{8}},
		{"code", func(a *model.AccountFilter) { a.Code = 1 }, []uint64{7}},
	} {
		if got := ids(c.change); !slices.Equal(got, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSystemModeEndsWithTheCall: CreateSystemAccounts and CreateSystemTransfers act for
// Sequent itself only for their own batch; right after either, a client's use of a
// system id is refused again.
func TestSystemModeEndsWithTheCall(t *testing.T) {
	f := newFixture(t)
	escrow := model.Uint128{Lo: 1, Hi: 1 << 63}
	results := make([]model.EventResult, 1)
	f.ledger.CreateSystemAccounts(f.timestamp, []model.Account{{ID: escrow, Ledger: 1, Code: 1}}, results)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("system account: %s", results[0].Status)
	}
	f.accounts(model.StatusIDReserved, model.Account{ID: model.Uint128{Lo: 2, Hi: 1 << 63}, Ledger: 1, Code: 1})
	system := make([]model.TransferResult, 1)
	f.ledger.CreateSystemTransfers(f.timestamp, []model.Transfer{{ID: model.Uint128{Lo: 3, Hi: 1 << 63},
		DebitAccountID: model.U128(1), CreditAccountID: escrow, Amount: model.U128(5), Ledger: 1, Code: 1}}, system)
	f.timestamp++
	if system[0].Status != model.StatusOK {
		t.Fatalf("system transfer: %s", system[0].Status)
	}
	f.expect(model.StatusIDReserved, with(transfer(9, 1, 2, 1), func(t *model.Transfer) { t.CreditAccountID = escrow }))
}

// TestCallerContracts: the ledger's caller guarantees bounded batches, results at least
// as long as the events and a batch timestamp in range (not 0, and leaving room for one
// timestamp per event below the largest); a violation is a bug in the caller and panics.
func TestCallerContracts(t *testing.T) {
	l := New(Config{})
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", name)
			}
		}()
		f()
	}
	two := make([]model.Transfer, 2)
	panics("timestamp 0", func() { l.CreateTransfers(0, two, make([]model.TransferResult, 2)) })
	panics("timestamps beyond the largest", func() {
		l.CreateTransfers(timestampMax-1, two, make([]model.TransferResult, 2))
	})
	panics("short results", func() { l.CreateTransfers(1, two, make([]model.TransferResult, 1)) })
	panics("batch too large", func() {
		n := model.EventsPerRequestMax + 1
		l.CreateAccounts(1, make([]model.Account, n), make([]model.EventResult, n))
	})
	l.CreateTransfers(timestampMax-2, two, make([]model.TransferResult, 2)) // The last room.
}

// TestRestoreRefusesMoreThanTheConfigAllows: a snapshot with more accounts than the
// restoring node's AccountsMax is refused rather than loaded beyond it (no ledger
// reaches such a state: every creation checks the limit), and so is one whose header
// claims more transfers than storage can index (recordCountMax), from the header alone.
// More transfers than TransfersMax is a state a ledger does reach (the posts and voids
// that must happen are stored past it): TestRestoreOverTheTransfersLimit.
func TestRestoreRefusesMoreThanTheConfigAllows(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(7, 1, 2, 5))
	f.expect(model.StatusOK, transfer(8, 1, 2, 5))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(Config{AccountsMax: 5}, bytes.NewReader(encoded.Bytes()))
	if !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("restore of 6 accounts with AccountsMax 5: %v, want ErrSnapshotInvalid", err)
	}
	forged := slices.Clone(encoded.Bytes())
	binary.LittleEndian.PutUint32(forged[16:], recordCountMax+1)
	_, err = Restore(Config{}, bytes.NewReader(forged))
	if !errors.Is(err, ErrSnapshotInvalid) || !strings.Contains(err.Error(), "exceed limits") {
		t.Fatalf("restore of %d transfers: %v, want the header's counts refused",
			recordCountMax+1, err)
	}
	if _, err := Restore(Config{AccountsMax: 6, TransfersMax: 2}, bytes.NewReader(encoded.Bytes())); err != nil {
		t.Fatalf("restore within the maxima: %v", err)
	}
}

// TestRestoreOverTheTransfersLimit: a saga's post stored past TransfersMax (a state the
// running ledger reaches) restores under the same configuration, into the same state.
// The restored ledger then answers new client transfers, a client's post and a new
// saga's step 1 exactly as the running one does (transfers_limit_reached), and posts the
// saga still in flight as it does. Restore refused such a snapshot, so a shard at its
// limit with sagas in flight could neither restart from a snapshot nor have a standby
// rejoin from one.
func TestRestoreOverTheTransfersLimit(t *testing.T) {
	config := Config{TransfersMax: 3}
	running := &fixture{t: t, ledger: New(config), timestamp: 1_000 * second}
	settlement := model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48} // As sagaFixture's.
	running.accounts(model.StatusOK, model.Account{ID: model.U128(1), Ledger: 1, Code: 10},
		model.Account{ID: model.U128(2), Ledger: 1, Code: 10})
	created := make([]model.EventResult, 1)
	running.ledger.CreateSystemAccounts(running.timestamp, []model.Account{{ID: settlement,
		Ledger: 1, Code: 1}}, created)
	running.timestamp++
	if created[0].Status != model.StatusOK {
		t.Fatalf("settlement account: %s", created[0].Status)
	}
	running.expect(model.StatusOK, pending(7, 1, 2, 5, 0))
	toSettlement := func(t *model.Transfer) { t.CreditAccountID = settlement }
	for _, step := range []model.Transfer{with(pending(40, 1, 0, 3, 0), toSettlement),
		with(pending(41, 1, 0, 4, 0), toSettlement)} {
		if status := running.saga(step)[0].Status; status != model.StatusOK {
			t.Fatalf("step 1 of saga %s: %s", step.ID, status)
		}
	}
	finish := func(f *fixture, pendingID uint64) {
		t.Helper()
		resolution := post(0, pendingID, model.Uint128Max)
		resolution.ID = model.Uint128{Lo: pendingID, Hi: 1<<63 | 0x73<<48 | 3<<40}
		if status := f.saga(resolution)[0].Status; status != model.StatusOK {
			t.Fatalf("post of saga %d: %s", pendingID, status)
		}
	}
	finish(running, 40) // Saga 41 stays in flight.
	if count := running.ledger.TransferCount(); count <= config.TransfersMax {
		t.Fatalf("%d transfers, limit %d: the case proves nothing", count, config.TransfersMax)
	}
	snapshot := func(l *Ledger) []byte {
		var encoded bytes.Buffer
		if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
			t.Fatal(err)
		}
		return encoded.Bytes()
	}
	restoredLedger, err := Restore(config, bytes.NewReader(snapshot(running.ledger)))
	if err != nil {
		t.Fatalf("the ledger's own snapshot does not restore: %v", err)
	}
	restored := &fixture{t: t, ledger: restoredLedger, timestamp: running.timestamp}
	for _, event := range []model.Transfer{transfer(60, 1, 2, 1), pending(61, 2, 1, 1, 0),
		post(62, 7, model.Uint128Max)} {
		restored.expect(model.StatusTransfersLimitReached, event)
		running.expect(model.StatusTransfersLimitReached, event)
	}
	step := with(pending(63, 1, 0, 1, 0), toSettlement)
	for _, f := range []*fixture{running, restored} {
		if status := f.saga(step)[0].Status; status != model.StatusTransfersLimitReached {
			t.Fatalf("a new saga's step 1 answers %s", status)
		}
		finish(f, 41) // Still past the limit: it must happen, restored or not.
	}
	if !bytes.Equal(snapshot(restored.ledger), snapshot(running.ledger)) {
		t.Fatal("the restored ledger differs from the running one")
	}
}

// editAccount and editTransfer return damages that change one record of a ledger
// snapshot (accounts first, then transfers; see snapshot.go).
func editAccount(index int, change func(*model.Account)) func(b []byte) {
	return func(b []byte) {
		record := b[snapshotHeaderSize+index*model.AccountSize:][:model.AccountSize]
		var a model.Account
		a.Decode(record)
		change(&a)
		a.Encode(record)
	}
}

// transfersOffset is where a snapshot of that many accounts has its first transfer record:
// after the header, the account records and each account's owner (u64).
func transfersOffset(accounts int) int {
	return snapshotHeaderSize + accounts*(model.AccountSize+8)
}

func editTransfer(accounts, index int, change func(*model.Transfer)) func(b []byte) {
	return func(b []byte) {
		record := b[transfersOffset(accounts)+index*model.TransferSize:][:model.TransferSize]
		var t model.Transfer
		t.Decode(record)
		change(&t)
		t.Encode(record)
	}
}

// TestRestoredHistoryAndDigest: a restored ledger answers balance-history queries as the
// original does (each account's history stays linked newest to oldest), and the digest
// tells different states apart while equal states agree.
func TestRestoredHistoryAndDigest(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(7, 4, 1, 5)) // Account 4 keeps history.
	f.expect(model.StatusOK, transfer(8, 4, 2, 6))
	f.expect(model.StatusOK, transfer(9, 1, 4, 2))
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	filter := model.AccountFilter{AccountID: model.U128(4), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	want, status := f.ledger.GetAccountBalances(&filter, nil)
	got, restoredStatus := restored.GetAccountBalances(&filter, nil)
	if status != model.StatusOK || restoredStatus != model.StatusOK || len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("history after restore %+v (%s), want %+v (%s)", got, restoredStatus, want, status)
	}
	if restored.Digest() != f.ledger.Digest() {
		t.Fatal("equal states have different digests")
	}
	f.expect(model.StatusOK, transfer(10, 1, 2, 1))
	if restored.Digest() == f.ledger.Digest() {
		t.Fatal("different states have the same digest")
	}
}

// TestExpiryTieBreak: pending transfers with the same deadline expire in creation order
// (here the first was created a second earlier with a timeout a second longer).
func TestExpiryTieBreak(t *testing.T) {
	f := newFixture(t)
	first := f.expect(model.StatusOK, pending(7, 1, 2, 1, 2)).Timestamp
	f.timestamp = first + second
	f.expect(model.StatusOK, pending(8, 1, 2, 1, 1))
	var expired []uint64
	f.ledger.Expire(first+2*second, func(id model.Uint128) { expired = append(expired, id.Lo) })
	if !slices.Equal(expired, []uint64{7, 8}) {
		t.Fatalf("expiry order %v, want [7 8]", expired)
	}
}

// TestLongestLinkedChain: a linked chain may span a whole batch of the largest size, each
// event writing the most undo records one can (two accounts with history, a pending
// transfer), and its failing last event rolls all of it back.
func TestLongestLinkedChain(t *testing.T) {
	f := newFixture(t)
	f.accounts(model.StatusOK, model.Account{ID: model.U128(10), Ledger: 1, Code: 10, Flags: model.AccountHistory},
		model.Account{ID: model.U128(11), Ledger: 1, Code: 10, Flags: model.AccountHistory})
	events := make([]model.Transfer, model.EventsPerRequestMax)
	for i := range events {
		events[i] = with(pending(100+uint64(i), 10, 11, 1, 0), func(t *model.Transfer) { t.Flags |= model.TransferLinked })
	}
	events[len(events)-1] = transfer(99, 10, 10, 1) // Fails: accounts_must_be_different.
	results := f.transfers(events...)
	if results[0].Status != model.StatusLinkedEventFailed ||
		results[len(results)-1].Status != model.StatusAccountsMustBeDifferent {
		t.Fatalf("chain: first %s, last %s", results[0].Status, results[len(results)-1].Status)
	}
	if b := f.balance(10); b != (model.Balance{}) || f.ledger.TransferCount() != 0 {
		t.Fatalf("not rolled back: %+v, %d transfers", b, f.ledger.TransferCount())
	}
}

// TestVoidOfAClosingCreditReopensIt: a closing transfer may close its credit account;
// voiding it (or its expiry) reopens that account too.
func TestVoidOfAClosingCreditReopensIt(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, with(pending(7, 1, 2, 5, 0), func(t *model.Transfer) {
		t.Flags |= model.TransferClosingCredit
	}))
	if f.account(2).Flags&model.AccountClosed == 0 {
		t.Fatal("account 2 not closed")
	}
	f.expect(model.StatusCreditAccountAlreadyClosed, transfer(8, 1, 2, 1))
	f.expect(model.StatusOK, void(9, 7))
	if f.account(2).Flags&model.AccountClosed != 0 {
		t.Fatal("the void did not reopen the credit account")
	}
	f.expect(model.StatusOK, transfer(10, 1, 2, 1))
}

// TestPostRetryWithOtherFields: a retried post whose non-zero fields differ from the
// stored post answers the first difference, in the documented order.
func TestPostRetryWithOtherFields(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
	stored := with(post(8, 7, model.U128(50)), func(t *model.Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = model.U128(1), 2, 3
	})
	f.expect(model.StatusOK, stored)
	for _, c := range []struct {
		change func(*model.Transfer)
		status model.Status
	}{
		{func(t *model.Transfer) { t.CreditAccountID = model.U128(3) }, model.StatusExistsWithDifferentCreditAccountID},
		{func(t *model.Transfer) { t.UserData128 = model.U128(9) }, model.StatusExistsWithDifferentUserData128},
		{func(t *model.Transfer) { t.UserData64 = 9 }, model.StatusExistsWithDifferentUserData64},
		{func(t *model.Transfer) { t.UserData32 = 9 }, model.StatusExistsWithDifferentUserData32},
		{func(t *model.Transfer) { t.Ledger = 2 }, model.StatusExistsWithDifferentLedger},
		{func(t *model.Transfer) { t.Code = 9 }, model.StatusExistsWithDifferentCode},
	} {
		f.expect(c.status, with(stored, c.change))
	}
}

// TestFailedSystemTransfersAreNotRemembered: a transient failure of a client transfer is
// remembered (id_already_failed), but not one of Sequent's own transfers: they are never
// retried by a client, and remembering them would only grow memory. The same system id
// may be tried again.
func TestFailedSystemTransfersAreNotRemembered(t *testing.T) {
	f := newFixture(t)
	escrow := model.Uint128{Lo: 1, Hi: 1 << 63}
	accountResults := make([]model.EventResult, 1)
	f.ledger.CreateSystemAccounts(f.timestamp, []model.Account{{ID: escrow, Ledger: 1, Code: 1}}, accountResults)
	f.timestamp++
	hold := model.Transfer{ID: model.Uint128{Lo: 2, Hi: 1 << 63}, DebitAccountID: model.U128(3),
		CreditAccountID: escrow, Amount: model.U128(5), Ledger: 1, Code: 1, Flags: model.TransferPending}
	system := func() model.Status {
		results := make([]model.TransferResult, 1)
		f.ledger.CreateSystemTransfers(f.timestamp, []model.Transfer{hold}, results)
		f.timestamp++
		return results[0].Status
	}
	if status := system(); status != model.StatusExceedsCredits { // Account 3 has no credits yet.
		t.Fatalf("hold without funds: %s", status)
	}
	f.expect(model.StatusOK, transfer(7, 1, 3, 10))
	if status := system(); status != model.StatusOK {
		t.Fatalf("the same hold once funded: %s, want ok", status)
	}
}

// TestBeyondTheFirstChunk: records live in chunks of 65,536; a ledger with more
// transfers than one chunk stores, finds and counts all of them.
func TestBeyondTheFirstChunk(t *testing.T) {
	l := New(Config{})
	results := make([]model.EventResult, 2)
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}, results)
	const batches = 9 // 73,701 transfers.
	events := make([]model.Transfer, model.EventsPerRequestMax)
	transferResults := make([]model.TransferResult, len(events))
	timestamp := uint64(100)
	for batch := range batches {
		for i := range events {
			events[i] = transfer(uint64(batch*len(events)+i+1), 1, 2, 1)
		}
		l.CreateTransfers(timestamp, events, transferResults)
		timestamp += uint64(len(events))
	}
	total := uint64(batches * len(events))
	last := l.LookupTransfers([]model.Uint128{model.U128(total)}, nil)
	accounts := l.LookupAccounts([]model.Uint128{model.U128(1)}, nil)
	if l.TransferCount() != uint32(total) || len(last) != 1 || accounts[0].DebitsPosted != model.U128(total) {
		t.Fatalf("%d transfers stored, last found %v, debits %s", l.TransferCount(), len(last) == 1,
			accounts[0].DebitsPosted)
	}
}

// TestExpiryPerPulseBound: one Expire call expires at most ExpiriesPerPulseMax transfers
// (a pulse's work is bounded); the next call takes the rest.
func TestExpiryPerPulseBound(t *testing.T) {
	f := newFixture(t)
	events := make([]model.Transfer, ExpiriesPerPulseMax+1)
	for i := range events {
		events[i] = pending(uint64(100+i), 1, 2, 1, 1)
	}
	for start := 0; start < len(events); start += model.EventsPerRequestMax {
		for i, result := range f.transfers(events[start:min(start+model.EventsPerRequestMax, len(events))]...) {
			if result.Status != model.StatusOK {
				t.Fatalf("pending %d: %s", start+i, result.Status)
			}
		}
	}
	if expired := f.tick(2 * second); expired != ExpiriesPerPulseMax {
		t.Fatalf("first pulse expired %d, want %d", expired, ExpiriesPerPulseMax)
	}
	if expired := f.tick(0); expired != 1 {
		t.Fatalf("second pulse expired %d, want 1", expired)
	}
}
