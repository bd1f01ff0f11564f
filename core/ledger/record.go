package ledger

import (
	"unsafe"

	"sequent/core/model"
)

// accountRecord is an account as the ledger keeps it in memory: model.Account's fields
// (the same names, so code reading them reads either), in another order. The first 64-byte
// line holds everything a plain transfer between accounts without pending balances reads
// and writes (the id compare, the posted balances, the newest-transfer link, ledger, code
// and flags); the second the pending balances, the user data and the timestamp. On the
// wire and in snapshots an account is model.Account: exportAccount and
// newAccountRecord convert at the edges (lookups, creation, snapshot write and restore).
//
// At a million accounts each record line a transfer reads is a cache miss of its own:
// reading one line per account instead of two took ~18% off the cpu time of a plain
// transfer sent by the system (LL read misses 6.0 -> 3.6 per transfer;
// bench/PERFORMANCE.md, session 43, helper ledger43).
type accountRecord struct {
	// First line.
	ID            model.Uint128
	DebitsPosted  model.Uint128
	CreditsPosted model.Uint128
	// Reserved holds the newest-transfer link in memory (newestTransfer), 0 on the wire.
	Reserved uint32
	Ledger   uint32
	Code     uint16
	// Flags holds the account's flags plus, in memory only, accountPendingZero.
	Flags      uint16
	UserData32 uint32
	// Second line: read by a transfer only when an account may have pending balances.
	DebitsPending  model.Uint128
	CreditsPending model.Uint128
	UserData128    model.Uint128
	UserData64     uint64
	Timestamp      uint64
}

// accountLineBytes is the size of the record's first line.
const accountLineBytes = 64

// The record has the wire record's size, and the first line ends where the pending
// balances begin: each pair fails to compile on any mismatch.
const (
	_ uintptr = unsafe.Sizeof(accountRecord{}) - model.AccountSize
	_ uintptr = model.AccountSize - unsafe.Sizeof(accountRecord{})
	_ uintptr = unsafe.Offsetof(accountRecord{}.DebitsPending) - accountLineBytes
	_ uintptr = accountLineBytes - unsafe.Offsetof(accountRecord{}.DebitsPending)
	_ uintptr = accountLineBytes - (unsafe.Offsetof(accountRecord{}.UserData32) + 4)
)

// accountPendingZero, set in an in-memory record's flags, says that both of its pending
// balances are zero, so that a transfer need not read the record's second line for them.
// It is conservative: set, both are zero for certain; clear, they may be anything. Every
// addition to a pending balance clears it (addDebitsPending, addCreditsPending); it is
// set only where both are seen to be zero (newAccountRecord, and markPendingZero after a
// subtraction or an undo).
// It never leaves the ledger: exportAccount masks it, as it clears the link, and snapshots
// and events carry model.Account and model.Balance values. It is a bit no account flag
// uses (creation and restore refuse unknown flags, so no stored account brings it in).
const accountPendingZero uint16 = 1 << 15

// Fails to compile if accountPendingZero becomes a defined account flag.
const _ uint16 = 0 - accountPendingZero&model.AccountFlagsKnown

// newAccountRecord returns the in-memory record of an account given on the wire (whose
// flags hold no unknown bit: its caller checked), with accountPendingZero set when both
// pending balances are zero.
func newAccountRecord(a *model.Account) accountRecord {
	r := accountRecord{
		ID: a.ID, DebitsPosted: a.DebitsPosted, CreditsPosted: a.CreditsPosted,
		Reserved: a.Reserved, Ledger: a.Ledger, Code: a.Code, Flags: a.Flags,
		UserData32: a.UserData32, DebitsPending: a.DebitsPending,
		CreditsPending: a.CreditsPending, UserData128: a.UserData128,
		UserData64: a.UserData64, Timestamp: a.Timestamp,
	}
	r.markPendingZero()
	return r
}

// exportAccount returns a copy of a stored account as the wire sees it: without the
// in-memory link and without accountPendingZero.
func exportAccount(r *accountRecord) model.Account {
	return model.Account{
		ID: r.ID, DebitsPending: r.DebitsPending, DebitsPosted: r.DebitsPosted,
		CreditsPending: r.CreditsPending, CreditsPosted: r.CreditsPosted,
		UserData128: r.UserData128, UserData64: r.UserData64, UserData32: r.UserData32,
		Ledger: r.Ledger, Code: r.Code, Flags: r.Flags &^ accountPendingZero,
		Timestamp: r.Timestamp,
	}
}

// pendingZero reports whether both pending balances are known to be zero (without
// reading them).
func (r *accountRecord) pendingZero() bool { return r.Flags&accountPendingZero != 0 }

// markPendingZero sets accountPendingZero when both pending balances are zero.
func (r *accountRecord) markPendingZero() {
	if r.DebitsPending.IsZero() && r.CreditsPending.IsZero() {
		r.Flags |= accountPendingZero
	}
}

// addDebitsPending and addCreditsPending are the only additions to a pending balance:
// each clears accountPendingZero. subDebitsPending and subCreditsPending set it again
// when both balances reach zero.
func (r *accountRecord) addDebitsPending(amount model.Uint128) {
	r.Flags &^= accountPendingZero
	r.DebitsPending = r.DebitsPending.MustAdd(amount)
}

func (r *accountRecord) addCreditsPending(amount model.Uint128) {
	r.Flags &^= accountPendingZero
	r.CreditsPending = r.CreditsPending.MustAdd(amount)
}

func (r *accountRecord) subDebitsPending(amount model.Uint128) {
	r.DebitsPending = r.DebitsPending.MustSub(amount)
	r.markPendingZero()
}

func (r *accountRecord) subCreditsPending(amount model.Uint128) {
	r.CreditsPending = r.CreditsPending.MustSub(amount)
	r.markPendingZero()
}

// debitsPending reads the debits pending, without touching the second line when
// accountPendingZero says it is zero (the issuing check's sum).
func (r *accountRecord) debitsPending() model.Uint128 {
	if r.pendingZero() {
		return model.Uint128{}
	}
	return r.DebitsPending
}

// Balance returns the account's current balances.
func (r *accountRecord) Balance() model.Balance {
	var b model.Balance
	r.BalanceTo(&b)
	return b
}

// BalanceTo writes the account's current balances into b field by field (a created
// transfer copies both accounts' balances into its result and its event), reading the
// second line only when a pending balance may be non-zero.
func (r *accountRecord) BalanceTo(b *model.Balance) {
	b.DebitsPosted, b.CreditsPosted = r.DebitsPosted, r.CreditsPosted
	if r.pendingZero() {
		b.DebitsPending, b.CreditsPending = model.Uint128{}, model.Uint128{}
		return
	}
	b.DebitsPending, b.CreditsPending = r.DebitsPending, r.CreditsPending
}

// checkPendingZero reports whether a record's accountPendingZero tells the truth: clear,
// or set with both pending balances zero.
func checkPendingZero(r *accountRecord) bool {
	return !r.pendingZero() || r.DebitsPending.IsZero() && r.CreditsPending.IsZero()
}
