package ledger

import (
	"testing"

	"sequent/core/model"
)

// fixture is a ledger with a clock, for table tests. Accounts 1..4 are on ledger 1
// (1 and 2 plain, 3 with debits_must_not_exceed_credits, 4 with
// credits_must_not_exceed_debits and history), 5 is on ledger 2, 6 is closed.
type fixture struct {
	t         *testing.T
	ledger    *Ledger
	timestamp uint64
}

const second = nanosecondsPerSecond

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, ledger: New(Config{HashSeed: 99}), timestamp: 1_000 * second}
	f.accounts(model.StatusOK,
		model.Account{ID: model.U128(1), Ledger: 1, Code: 10},
		model.Account{ID: model.U128(2), Ledger: 1, Code: 10},
		model.Account{ID: model.U128(3), Ledger: 1, Code: 10,
			Flags: model.AccountDebitsMustNotExceedCredits},
		model.Account{ID: model.U128(4), Ledger: 1, Code: 10,
			Flags: model.AccountCreditsMustNotExceedDebits | model.AccountHistory},
		model.Account{ID: model.U128(5), Ledger: 2, Code: 10},
		model.Account{ID: model.U128(6), Ledger: 1, Code: 10, Flags: model.AccountClosed},
	)
	return f
}

// tick advances the clock and runs expiry, as the machine does at each entry.
func (f *fixture) tick(nanoseconds uint64) int {
	f.timestamp += nanoseconds
	return f.ledger.Expire(f.timestamp, nil)
}

// accounts creates accounts and requires every result to be want (or StatusOK).
func (f *fixture) accounts(want model.Status, events ...model.Account) []model.EventResult {
	f.t.Helper()
	results := make([]model.EventResult, len(events))
	f.ledger.CreateAccounts(f.timestamp, events, results)
	f.timestamp += uint64(len(events))
	for i, result := range results {
		if result.Status != want {
			f.t.Fatalf("account event %d: %s, want %s", i, result.Status, want)
		}
	}
	return results
}

// transfers applies transfers and returns their results.
func (f *fixture) transfers(events ...model.Transfer) []model.TransferResult {
	f.t.Helper()
	results := make([]model.TransferResult, len(events))
	f.ledger.CreateTransfers(f.timestamp, events, results)
	f.timestamp += uint64(len(events))
	return results
}

// expect applies one transfer and requires the status.
func (f *fixture) expect(want model.Status, event model.Transfer) model.TransferResult {
	f.t.Helper()
	result := f.transfers(event)[0]
	if result.Status != want {
		f.t.Fatalf("transfer %+v: %s, want %s", event, result.Status, want)
	}
	return result
}

func (f *fixture) account(id uint64) model.Account {
	f.t.Helper()
	found := f.ledger.LookupAccounts([]model.Uint128{model.U128(id)}, nil)
	if len(found) != 1 {
		f.t.Fatalf("account %d not found", id)
	}
	return found[0]
}

func (f *fixture) balance(id uint64) model.Balance {
	account := f.account(id)
	return account.Balance()
}

func transfer(id, debit, credit, amount uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1}
}

func pending(id, debit, credit, amount uint64, timeout uint32) model.Transfer {
	t := transfer(id, debit, credit, amount)
	t.Flags, t.Timeout = model.TransferPending, timeout
	return t
}

func post(id, pendingID uint64, amount model.Uint128) model.Transfer {
	return model.Transfer{ID: model.U128(id), PendingID: model.U128(pendingID), Amount: amount,
		Flags: model.TransferPostPending}
}

func void(id, pendingID uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), PendingID: model.U128(pendingID),
		Flags: model.TransferVoidPending}
}

func with(t model.Transfer, change func(*model.Transfer)) model.Transfer {
	change(&t)
	return t
}

// TestCreateAccountStatuses covers every create_accounts status and its precedence: each
// case is built so that the expected status is the first that applies, often with a later
// check also violated to prove the order.
func TestCreateAccountStatuses(t *testing.T) {
	valid := model.Account{ID: model.U128(100), Ledger: 1, Code: 1}
	cases := []struct {
		name   string
		event  model.Account
		status model.Status
	}{
		{"created", valid, model.StatusOK},
		{"timestamp before reserved", with2(valid, func(a *model.Account) {
			a.Timestamp, a.Reserved = 1, 1
		}), model.StatusTimestampMustBeZero},
		{"reserved field before flag", with2(valid, func(a *model.Account) {
			a.Reserved, a.Flags = 1, 1<<4
		}), model.StatusReservedField},
		{"reserved flag before id", with2(valid, func(a *model.Account) {
			a.Flags, a.ID = 1<<4, model.Uint128{}
		}), model.StatusReservedFlag},
		{"id zero", with2(valid, func(a *model.Account) { a.ID = model.Uint128{} }),
			model.StatusIDMustNotBeZero},
		{"id max", with2(valid, func(a *model.Account) { a.ID = model.Uint128Max }),
			model.StatusIDMustNotBeIntMax},
		{"exists with different flags before user data", with2(valid, func(a *model.Account) {
			a.ID, a.Flags, a.UserData128 = model.U128(1), model.AccountHistory, model.U128(9)
		}), model.StatusExistsWithDifferentFlags},
		{"exists with different user_data_128", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code, a.UserData128 = model.U128(1), 1, 10, model.U128(9)
		}), model.StatusExistsWithDifferentUserData128},
		{"exists with different user_data_64", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code, a.UserData64 = model.U128(1), 1, 10, 9
		}), model.StatusExistsWithDifferentUserData64},
		{"exists with different user_data_32", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code, a.UserData32 = model.U128(1), 1, 10, 9
		}), model.StatusExistsWithDifferentUserData32},
		{"exists with different ledger before code", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code = model.U128(1), 2, 11
		}), model.StatusExistsWithDifferentLedger},
		{"exists with different code", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code = model.U128(1), 1, 11
		}), model.StatusExistsWithDifferentCode},
		{"exists before validation", with2(valid, func(a *model.Account) {
			a.ID, a.Ledger, a.Code, a.DebitsPosted = model.U128(1), 1, 10, model.U128(1)
		}), model.StatusExistsWithDifferentFlags + 6}, // StatusExists; see below.
		{"mutually exclusive flags", with2(valid, func(a *model.Account) {
			a.Flags = model.AccountDebitsMustNotExceedCredits |
				model.AccountCreditsMustNotExceedDebits
			a.DebitsPending = model.U128(1)
		}), model.StatusFlagsAreMutuallyExclusive},
		{"debits pending", with2(valid, func(a *model.Account) {
			a.DebitsPending, a.DebitsPosted = model.U128(1), model.U128(1)
		}), model.StatusDebitsPendingMustBeZero},
		{"debits posted", with2(valid, func(a *model.Account) {
			a.DebitsPosted, a.CreditsPending = model.U128(1), model.U128(1)
		}), model.StatusDebitsPostedMustBeZero},
		{"credits pending", with2(valid, func(a *model.Account) {
			a.CreditsPending, a.CreditsPosted = model.U128(1), model.U128(1)
		}), model.StatusCreditsPendingMustBeZero},
		{"credits posted", with2(valid, func(a *model.Account) {
			a.CreditsPosted, a.Ledger = model.U128(1), 0
		}), model.StatusCreditsPostedMustBeZero},
		{"ledger zero before code", with2(valid, func(a *model.Account) { a.Ledger, a.Code = 0, 0 }),
			model.StatusLedgerMustNotBeZero},
		{"code zero", with2(valid, func(a *model.Account) { a.Code = 0 }),
			model.StatusCodeMustNotBeZero},
	}
	if model.StatusExistsWithDifferentFlags+6 != model.StatusExists {
		t.Fatal("status numbering changed; fix the exists case")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.accounts(c.status, c.event)
		})
	}
}

func with2(a model.Account, change func(*model.Account)) model.Account {
	change(&a)
	return a
}

func TestAccountsLimitReached(t *testing.T) {
	l := New(Config{AccountsMax: 2})
	results := make([]model.EventResult, 3)
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}, {ID: model.U128(3), Ledger: 1, Code: 1}}, results)
	if results[2].Status != model.StatusAccountsLimitReached || l.AccountCount() != 2 {
		t.Fatalf("third account: %s with %d accounts", results[2].Status, l.AccountCount())
	}
}

// TestCreateTransferStatuses covers every create_transfers status reachable from a single
// event on the fixture, each with a later check also violated where one exists.
func TestCreateTransferStatuses(t *testing.T) {
	base := transfer(100, 1, 2, 10)
	cases := []struct {
		name   string
		event  model.Transfer
		status model.Status
	}{
		{"created", base, model.StatusOK},
		{"timestamp before flags", with(base, func(t *model.Transfer) {
			t.Timestamp, t.Flags = 1, 1<<9
		}), model.StatusTimestampMustBeZero},
		{"reserved flag before id", with(base, func(t *model.Transfer) {
			t.Flags, t.ID = 1<<8, model.Uint128{}
		}), model.StatusReservedFlag},
		{"id zero", with(base, func(t *model.Transfer) { t.ID = model.Uint128{} }),
			model.StatusIDMustNotBeZero},
		{"id max", with(base, func(t *model.Transfer) { t.ID = model.Uint128Max }),
			model.StatusIDMustNotBeIntMax},
		{"debit zero before credit", with(base, func(t *model.Transfer) {
			t.DebitAccountID, t.CreditAccountID = model.Uint128{}, model.Uint128{}
		}), model.StatusDebitAccountIDMustNotBeZero},
		{"debit max", with(base, func(t *model.Transfer) { t.DebitAccountID = model.Uint128Max }),
			model.StatusDebitAccountIDMustNotBeIntMax},
		{"credit zero", with(base, func(t *model.Transfer) { t.CreditAccountID = model.Uint128{} }),
			model.StatusCreditAccountIDMustNotBeZero},
		{"credit max", with(base, func(t *model.Transfer) { t.CreditAccountID = model.Uint128Max }),
			model.StatusCreditAccountIDMustNotBeIntMax},
		{"same accounts before pending id", with(base, func(t *model.Transfer) {
			t.CreditAccountID, t.PendingID = t.DebitAccountID, model.U128(5)
		}), model.StatusAccountsMustBeDifferent},
		{"pending id must be zero", with(base, func(t *model.Transfer) {
			t.PendingID, t.Timeout = model.U128(5), 1
		}), model.StatusPendingIDMustBeZero},
		{"timeout without pending", with(base, func(t *model.Transfer) { t.Timeout = 1 }),
			model.StatusTimeoutReservedForPendingTransfer},
		{"closing without pending", with(base, func(t *model.Transfer) {
			t.Flags, t.Ledger = model.TransferClosingCredit, 0
		}), model.StatusClosingTransferMustBePending},
		{"ledger zero before code", with(base, func(t *model.Transfer) { t.Ledger, t.Code = 0, 0 }),
			model.StatusLedgerMustNotBeZero},
		{"code zero before lookups", with(base, func(t *model.Transfer) {
			t.Code, t.DebitAccountID = 0, model.U128(77)
		}), model.StatusCodeMustNotBeZero},
		{"debit not found before credit", with(base, func(t *model.Transfer) {
			t.DebitAccountID, t.CreditAccountID = model.U128(77), model.U128(78)
		}), model.StatusDebitAccountNotFound},
		{"credit not found", with(base, func(t *model.Transfer) { t.CreditAccountID = model.U128(78) }),
			model.StatusCreditAccountNotFound},
		{"accounts on different ledgers", with(base, func(t *model.Transfer) {
			t.CreditAccountID = model.U128(5)
		}), model.StatusAccountsMustHaveTheSameLedger},
		{"transfer ledger differs", with(base, func(t *model.Transfer) { t.Ledger = 2 }),
			model.StatusTransferMustHaveTheSameLedgerAsAccount},
		{"debit closed before credit", with(base, func(t *model.Transfer) {
			t.DebitAccountID = model.U128(6)
		}), model.StatusDebitAccountAlreadyClosed},
		{"credit closed", with(base, func(t *model.Transfer) { t.CreditAccountID = model.U128(6) }),
			model.StatusCreditAccountAlreadyClosed},
		{"exceeds credits", transfer(100, 3, 1, 1), model.StatusExceedsCredits},
		{"exceeds debits", transfer(100, 1, 4, 1), model.StatusExceedsDebits},
		{"post: both flags before pending id", with(void(100, 0), func(t *model.Transfer) {
			t.Flags |= model.TransferPostPending
		}), model.StatusFlagsAreMutuallyExclusive},
		{"post: with pending", with(void(100, 7), func(t *model.Transfer) {
			t.Flags |= model.TransferPending
		}), model.StatusFlagsAreMutuallyExclusive},
		{"post: with balancing", with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.Flags |= model.TransferBalancingDebit
		}), model.StatusFlagsAreMutuallyExclusive},
		{"post: with closing", with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.Flags |= model.TransferClosingCredit
		}), model.StatusFlagsAreMutuallyExclusive},
		{"pending id zero", post(100, 0, model.U128(1)), model.StatusPendingIDMustNotBeZero},
		{"pending id max", with(post(100, 0, model.U128(1)), func(t *model.Transfer) {
			t.PendingID = model.Uint128Max
		}), model.StatusPendingIDMustNotBeIntMax},
		{"pending id is own id", post(100, 100, model.U128(1)), model.StatusPendingIDMustBeDifferent},
		{"timeout on post", with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.Timeout = 1
		}), model.StatusTimeoutReservedForPendingTransfer},
		{"pending not found", post(100, 77, model.U128(1)), model.StatusPendingTransferNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.expect(c.status, c.event)
			if c.status != model.StatusOK && f.ledger.TransferCount() != 0 {
				t.Fatalf("a rejected transfer was stored")
			}
			if c.status.Transient() != f.ledger.hasFailed(c.event.ID) {
				t.Fatalf("transient %v but remembered %v", c.status.Transient(),
					f.ledger.hasFailed(c.event.ID))
			}
		})
	}
}

// TestPostAndVoidStatuses covers the statuses of resolving a pending transfer (id 7, from
// account 1 to 2, amount 50, code 1, timeout 10 s).
func TestPostAndVoidStatuses(t *testing.T) {
	cases := []struct {
		name   string
		before []model.Transfer
		event  model.Transfer
		status model.Status
	}{
		{"not pending", []model.Transfer{transfer(8, 1, 2, 5)}, post(100, 8, model.U128(1)),
			model.StatusPendingTransferNotPending},
		{"different debit", nil, with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.DebitAccountID, t.CreditAccountID = model.U128(3), model.U128(3)
		}), model.StatusPendingTransferHasDifferentDebitID},
		{"different credit", nil, with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.CreditAccountID, t.Ledger = model.U128(3), 2
		}), model.StatusPendingTransferHasDifferentCreditID},
		{"different ledger", nil, with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.Ledger, t.Code = 2, 2
		}), model.StatusPendingTransferHasDifferentLedger},
		{"different code", nil, with(post(100, 7, model.U128(1)), func(t *model.Transfer) {
			t.Code = 2
		}), model.StatusPendingTransferHasDifferentCode},
		{"post above pending amount", nil, post(100, 7, model.U128(51)),
			model.StatusExceedsPendingTransferAmount},
		{"void with another amount", nil, with(void(100, 7), func(t *model.Transfer) {
			t.Amount = model.U128(49)
		}), model.StatusPendingTransferHasDifferentAmount},
		{"already posted", []model.Transfer{post(90, 7, model.U128(10))}, void(100, 7),
			model.StatusPendingTransferAlreadyPosted},
		{"already voided", []model.Transfer{void(90, 7)}, post(100, 7, model.Uint128Max),
			model.StatusPendingTransferAlreadyVoided},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.expect(model.StatusOK, pending(7, 1, 2, 50, 10))
			for _, event := range c.before {
				f.expect(model.StatusOK, event)
			}
			f.expect(c.status, c.event)
		})
	}
}

func TestTwoPhaseLifecycle(t *testing.T) {
	t.Run("partial post releases the rest", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
		if b := f.balance(1); b.DebitsPending != model.U128(50) || !b.DebitsPosted.IsZero() {
			t.Fatalf("after pending: %+v", b)
		}
		result := f.expect(model.StatusOK, post(8, 7, model.U128(30)))
		want := model.Balance{DebitsPosted: model.U128(30)}
		if b := f.balance(1); b != want || result.DebitAccount != want {
			t.Fatalf("after post: %+v, result %+v", b, result.DebitAccount)
		}
		stored := f.ledger.LookupTransfers([]model.Uint128{model.U128(8)}, nil)[0]
		if stored.Amount != model.U128(30) || stored.DebitAccountID != model.U128(1) ||
			stored.Ledger != 1 || stored.Code != 1 {
			t.Fatalf("post record does not inherit: %+v", stored)
		}
	})
	t.Run("post with max amount posts all", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
		f.expect(model.StatusOK, post(8, 7, model.Uint128Max))
		if b := f.balance(2); b.CreditsPosted != model.U128(50) || !b.CreditsPending.IsZero() {
			t.Fatalf("after full post: %+v", b)
		}
	})
	t.Run("void releases everything", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
		f.expect(model.StatusOK, void(8, 7))
		if b := f.balance(1); b != (model.Balance{}) {
			t.Fatalf("after void: %+v", b)
		}
	})
	t.Run("expiry at the deadline, not before", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 10))
		created := f.ledger.LookupTransfers([]model.Uint128{model.U128(7)}, nil)[0].Timestamp
		deadline, ok := f.ledger.NextDeadline()
		if !ok || deadline != created+10*second {
			t.Fatalf("next deadline %d, want %d", deadline, created+10*second)
		}
		f.timestamp = deadline - 1
		if expired := f.tick(0); expired != 0 {
			t.Fatalf("expired %d before the deadline", expired)
		}
		if expired := f.tick(1); expired != 1 {
			t.Fatalf("expired %d at the deadline", expired)
		}
		if b := f.balance(1); b != (model.Balance{}) {
			t.Fatalf("after expiry: %+v", b)
		}
		f.expect(model.StatusPendingTransferExpired, post(8, 7, model.Uint128Max))
	})
	t.Run("overdue but not yet swept is expired", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 1))
		f.timestamp += 2 * second // No Expire call: the sweep has not run.
		f.expect(model.StatusPendingTransferExpired, void(8, 7))
	})
	t.Run("resolved before its deadline does not expire", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(7, 1, 2, 50, 1))
		f.expect(model.StatusOK, post(8, 7, model.U128(20)))
		if expired := f.tick(5 * second); expired != 0 {
			t.Fatalf("a posted transfer expired")
		}
		if b := f.balance(1); b.DebitsPosted != model.U128(20) {
			t.Fatalf("balance changed: %+v", b)
		}
	})
	t.Run("expiry order is deadline then creation, bounded per call", func(t *testing.T) {
		f := newFixture(t)
		var ids []model.Uint128
		f.ledger.Expire(f.timestamp, nil)
		f.expect(model.StatusOK, pending(7, 1, 2, 1, 2))
		f.expect(model.StatusOK, pending(8, 1, 2, 1, 1))
		f.expect(model.StatusOK, pending(9, 1, 2, 1, 1))
		f.timestamp += 3 * second
		f.ledger.Expire(f.timestamp, func(id model.Uint128) { ids = append(ids, id) })
		if len(ids) != 3 || ids[0] != model.U128(8) || ids[1] != model.U128(9) ||
			ids[2] != model.U128(7) {
			t.Fatalf("expiry order %v", ids)
		}
	})
}

func TestClosingAccounts(t *testing.T) {
	closing := with(pending(7, 1, 2, 5, 0), func(t *model.Transfer) {
		t.Flags |= model.TransferClosingDebit
	})
	t.Run("closing pending closes, post keeps it closed", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, closing)
		if f.account(1).Flags&model.AccountClosed == 0 {
			t.Fatal("account 1 not closed")
		}
		f.expect(model.StatusDebitAccountAlreadyClosed, transfer(8, 1, 2, 1))
		f.expect(model.StatusOK, post(9, 7, model.Uint128Max)) // Its own post is allowed.
		if f.account(1).Flags&model.AccountClosed == 0 {
			t.Fatal("posting the closing transfer reopened the account")
		}
	})
	t.Run("another post on a closed account is refused", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(6, 1, 2, 5, 0))
		f.expect(model.StatusOK, closing)
		f.expect(model.StatusDebitAccountAlreadyClosed, post(9, 6, model.Uint128Max))
		f.expect(model.StatusOK, void(10, 6)) // Voids are always allowed.
	})
	t.Run("another post on a closed credit account is refused", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, pending(6, 1, 2, 5, 0))
		f.expect(model.StatusOK, with(pending(7, 1, 2, 5, 0), func(t *model.Transfer) {
			t.Flags |= model.TransferClosingCredit
		}))
		f.expect(model.StatusCreditAccountAlreadyClosed, post(9, 6, model.Uint128Max))
		f.expect(model.StatusOK, post(10, 7, model.Uint128Max)) // Its own post is allowed.
	})
	t.Run("void reopens", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, closing)
		f.expect(model.StatusOK, void(9, 7))
		if f.account(1).Flags&model.AccountClosed != 0 {
			t.Fatal("void did not reopen")
		}
		f.expect(model.StatusOK, transfer(8, 1, 2, 1))
	})
	t.Run("expiry reopens", func(t *testing.T) {
		f := newFixture(t)
		f.expect(model.StatusOK, with(closing, func(t *model.Transfer) { t.Timeout = 1 }))
		f.tick(2 * second)
		if f.account(1).Flags&model.AccountClosed != 0 {
			t.Fatal("expiry did not reopen")
		}
	})
}

func TestBalancingTransfers(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(7, 1, 3, 100)) // Account 3 now holds 100 credits.
	f.expect(model.StatusOK, transfer(8, 3, 1, 30))  // ...and 30 debits.
	result := f.expect(model.StatusOK, with(transfer(9, 3, 2, 1000), func(t *model.Transfer) {
		t.Flags = model.TransferBalancingDebit
	}))
	stored := f.ledger.LookupTransfers([]model.Uint128{model.U128(9)}, nil)[0]
	if stored.Amount != model.U128(70) || result.DebitAccount.DebitsPosted != model.U128(100) {
		t.Fatalf("balancing debit moved %s, debits now %s", stored.Amount,
			result.DebitAccount.DebitsPosted)
	}
	// A retry whose maximum still covers what moved is the same transfer; a smaller one
	// is not.
	f.expect(model.StatusExists, with(transfer(9, 3, 2, 70), func(t *model.Transfer) {
		t.Flags = model.TransferBalancingDebit
	}))
	f.expect(model.StatusExistsWithDifferentAmount, with(transfer(9, 3, 2, 69),
		func(t *model.Transfer) { t.Flags = model.TransferBalancingDebit }))
	// Credit side: account 4 must not have more credits than debits.
	f.expect(model.StatusOK, transfer(10, 4, 1, 40))
	f.expect(model.StatusOK, with(transfer(11, 1, 4, 500), func(t *model.Transfer) {
		t.Flags = model.TransferBalancingCredit
	}))
	if b := f.balance(4); b.CreditsPosted != model.U128(40) {
		t.Fatalf("balancing credit: %+v", b)
	}
}

func TestIdempotentRetries(t *testing.T) {
	f := newFixture(t)
	original := f.expect(model.StatusOK, with(transfer(7, 1, 2, 10), func(t *model.Transfer) {
		t.UserData64 = 5
	}))
	retry := f.expect(model.StatusExists, with(transfer(7, 1, 2, 10), func(t *model.Transfer) {
		t.UserData64 = 5
	}))
	if retry.Timestamp != original.Timestamp || f.balance(1).DebitsPosted != model.U128(10) {
		t.Fatalf("retry changed state or timestamp: %d vs %d", retry.Timestamp, original.Timestamp)
	}
	differences := []struct {
		change func(*model.Transfer)
		status model.Status
	}{
		{func(t *model.Transfer) { t.Flags = model.TransferPending }, model.StatusExistsWithDifferentFlags},
		{func(t *model.Transfer) { t.PendingID = model.U128(3) }, model.StatusExistsWithDifferentPendingID},
		{func(t *model.Transfer) { t.Timeout = 3 }, model.StatusExistsWithDifferentTimeout},
		{func(t *model.Transfer) { t.DebitAccountID = model.U128(3) },
			model.StatusExistsWithDifferentDebitAccountID},
		{func(t *model.Transfer) { t.CreditAccountID = model.U128(3) },
			model.StatusExistsWithDifferentCreditAccountID},
		{func(t *model.Transfer) { t.Amount = model.U128(11) }, model.StatusExistsWithDifferentAmount},
		{func(t *model.Transfer) { t.UserData128 = model.U128(1) },
			model.StatusExistsWithDifferentUserData128},
		{func(t *model.Transfer) { t.UserData64 = 6 }, model.StatusExistsWithDifferentUserData64},
		{func(t *model.Transfer) { t.UserData32 = 6 }, model.StatusExistsWithDifferentUserData32},
		{func(t *model.Transfer) { t.Ledger = 2 }, model.StatusExistsWithDifferentLedger},
		{func(t *model.Transfer) { t.Code = 2 }, model.StatusExistsWithDifferentCode},
	}
	for _, d := range differences {
		event := with(transfer(7, 1, 2, 10), func(t *model.Transfer) { t.UserData64 = 5 })
		d.change(&event)
		f.expect(d.status, event)
	}
	// A transient failure is remembered even after its cause is gone.
	f.expect(model.StatusExceedsCredits, transfer(20, 3, 1, 5))
	f.expect(model.StatusOK, transfer(21, 1, 3, 100))
	f.expect(model.StatusIDAlreadyFailed, transfer(20, 3, 1, 5))
	// Posts: zero fields of a retry inherit; the max amount means the full amount.
	f.expect(model.StatusOK, pending(30, 1, 2, 50, 0))
	f.expect(model.StatusOK, post(31, 30, model.U128(50)))
	f.expect(model.StatusExists, post(31, 30, model.Uint128Max))
	f.expect(model.StatusExistsWithDifferentAmount, post(31, 30, model.U128(49)))
	f.expect(model.StatusOK, pending(32, 1, 2, 50, 0))
	f.expect(model.StatusOK, post(33, 32, model.U128(20)))
	f.expect(model.StatusExistsWithDifferentAmount, post(33, 32, model.Uint128Max))
	f.expect(model.StatusExists, with(post(33, 32, model.U128(20)), func(t *model.Transfer) {
		t.DebitAccountID, t.Code = model.U128(1), 1
	}))
	f.expect(model.StatusExistsWithDifferentDebitAccountID, with(post(33, 32, model.U128(20)),
		func(t *model.Transfer) { t.DebitAccountID = model.U128(2) }))
}

func TestLinkedChains(t *testing.T) {
	t.Run("failure rolls back the whole chain", func(t *testing.T) {
		f := newFixture(t)
		linked := func(event model.Transfer) model.Transfer {
			event.Flags |= model.TransferLinked
			return event
		}
		results := f.transfers(transfer(5, 1, 2, 1), linked(transfer(6, 1, 2, 10)),
			linked(pending(7, 1, 2, 20, 1)), transfer(8, 3, 1, 1), transfer(9, 1, 2, 3))
		want := []model.Status{model.StatusOK, model.StatusLinkedEventFailed,
			model.StatusLinkedEventFailed, model.StatusExceedsCredits, model.StatusOK}
		for i, result := range results {
			if result.Status != want[i] {
				t.Fatalf("event %d: %s, want %s", i, result.Status, want[i])
			}
		}
		if b := f.balance(1); b.DebitsPosted != model.U128(4) || !b.DebitsPending.IsZero() {
			t.Fatalf("chain not rolled back: %+v", b)
		}
		if f.ledger.TransferCount() != 2 {
			t.Fatalf("%d transfers stored", f.ledger.TransferCount())
		}
		if _, ok := f.ledger.NextDeadline(); ok {
			t.Fatal("a rolled-back pending transfer is scheduled to expire")
		}
		// Ids of a rolled-back chain are free again; the failing one is remembered.
		f.expect(model.StatusOK, transfer(6, 1, 2, 10))
		f.expect(model.StatusIDAlreadyFailed, transfer(8, 3, 1, 1))
	})
	t.Run("chain open at the end of the batch", func(t *testing.T) {
		f := newFixture(t)
		results := f.transfers(transfer(5, 1, 2, 1), with(transfer(6, 1, 2, 1),
			func(t *model.Transfer) { t.Flags = model.TransferLinked }))
		if results[0].Status != model.StatusOK ||
			results[1].Status != model.StatusLinkedEventChainOpen {
			t.Fatalf("statuses %s, %s", results[0].Status, results[1].Status)
		}
	})
	t.Run("retried chain answers exists", func(t *testing.T) {
		f := newFixture(t)
		chain := []model.Transfer{with(transfer(5, 1, 2, 1), func(t *model.Transfer) {
			t.Flags = model.TransferLinked
		}), transfer(6, 1, 2, 2)}
		f.transfers(chain...)
		for i, result := range f.transfers(chain...) {
			if result.Status != model.StatusExists {
				t.Fatalf("retry event %d: %s", i, result.Status)
			}
		}
	})
	t.Run("linked accounts", func(t *testing.T) {
		f := newFixture(t)
		results := make([]model.EventResult, 3)
		f.ledger.CreateAccounts(f.timestamp, []model.Account{
			{ID: model.U128(50), Ledger: 1, Code: 1, Flags: model.AccountLinked},
			{ID: model.U128(51), Ledger: 1, Code: 1, Flags: model.AccountLinked},
			{ID: model.U128(52), Ledger: 0, Code: 1}}, results)
		if results[0].Status != model.StatusLinkedEventFailed ||
			results[2].Status != model.StatusLedgerMustNotBeZero || f.ledger.AccountCount() != 6 {
			t.Fatalf("linked accounts: %+v, %d accounts", results, f.ledger.AccountCount())
		}
	})
}

func TestOverflowAt2To128(t *testing.T) {
	f := newFixture(t)
	huge := model.Uint128Max.MustSub(model.U128(5))
	f.expect(model.StatusOK, with(transfer(7, 1, 2, 0), func(t *model.Transfer) { t.Amount = huge }))
	f.expect(model.StatusOverflowsDebitsPosted, transfer(8, 1, 3, 6))
	f.expect(model.StatusOverflowsCreditsPosted, transfer(9, 3, 2, 6))
	f.expect(model.StatusOK, pending(10, 1, 3, 5, 0))
	f.expect(model.StatusOverflowsDebits, transfer(11, 1, 4, 1))
	f.expect(model.StatusOverflowsDebitsPending, with(pending(12, 1, 3, 0, 0), func(t *model.Transfer) {
		t.Amount = model.Uint128Max
	}))
	f.expect(model.StatusOverflowsCreditsPending, with(pending(13, 2, 3, 0, 0), func(t *model.Transfer) {
		t.Amount = model.Uint128Max
	}))
	f.expect(model.StatusOK, transfer(14, 2, 1, 1)) // Account 2 still works.
	g := newFixture(t)
	g.timestamp = timestampMax - 5*second
	g.expect(model.StatusOverflowsTimeout, pending(7, 1, 2, 1, 10))
	h := newFixture(t)
	h.expect(model.StatusOK, with(transfer(7, 2, 1, 0), func(t *model.Transfer) { t.Amount = huge }))
	h.expect(model.StatusOK, pending(8, 2, 1, 5, 0))
	h.expect(model.StatusOverflowsCredits, transfer(9, 3, 1, 1))
}

func TestTransfersLimitReached(t *testing.T) {
	l := New(Config{TransfersMax: 1})
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}, make([]model.EventResult, 2))
	results := make([]model.TransferResult, 2)
	l.CreateTransfers(10, []model.Transfer{transfer(1, 1, 2, 1), transfer(2, 1, 2, 1)}, results)
	if results[0].Status != model.StatusOK || results[1].Status != model.StatusTransfersLimitReached {
		t.Fatalf("statuses %s, %s", results[0].Status, results[1].Status)
	}
}

func TestQueries(t *testing.T) {
	f := newFixture(t)
	for id := uint64(1); id <= 6; id++ {
		f.expect(model.StatusOK, with(transfer(id, 1, 4, id), func(t *model.Transfer) {
			t.DebitAccountID, t.CreditAccountID = model.U128(4), model.U128(1)
			t.Amount = model.U128(10 * id)
			if id%2 == 0 {
				t.Amount = model.U128(id)
				t.DebitAccountID, t.CreditAccountID = model.U128(1), model.U128(4)
			}
		}))
	}
	all := model.AccountFilter{AccountID: model.U128(4), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	ids := func(transfers []model.Transfer) []uint64 {
		var result []uint64
		for _, t := range transfers {
			result = append(result, t.ID.Lo)
		}
		return result
	}
	check := func(name string, filter model.AccountFilter, want ...uint64) {
		t.Helper()
		got, status := f.ledger.GetAccountTransfers(&filter, nil)
		if status != model.StatusOK || len(got) != len(want) {
			t.Fatalf("%s: %s %v, want %v", name, status, ids(got), want)
		}
		for i := range want {
			if got[i].ID.Lo != want[i] {
				t.Fatalf("%s: %v, want %v", name, ids(got), want)
			}
		}
	}
	check("all oldest first", all, 1, 2, 3, 4, 5, 6)
	reversed := all
	reversed.Flags |= model.FilterReversed
	check("all newest first", reversed, 6, 5, 4, 3, 2, 1)
	limited := all
	limited.Limit = 4
	check("oldest four", limited, 1, 2, 3, 4)
	limited.Flags |= model.FilterReversed
	check("newest four", limited, 6, 5, 4, 3)
	debits := all
	debits.Flags = model.FilterDebits
	check("debits", debits, 1, 3, 5)
	stamps, _ := f.ledger.GetAccountTransfers(&all, nil)
	ranged := all
	ranged.TimestampMin, ranged.TimestampMax = stamps[1].Timestamp, stamps[3].Timestamp
	check("time range", ranged, 2, 3, 4)
	history, status := f.ledger.GetAccountBalances(&all, nil)
	if status != model.StatusOK || len(history) != 6 ||
		history[5].CreditsPosted != model.U128(2+4+6) || history[5].DebitsPosted != model.U128(10+30+50) {
		t.Fatalf("history: %s %+v", status, history)
	}
	badFilters := []struct {
		change func(*model.AccountFilter)
		status model.Status
	}{
		{func(f *model.AccountFilter) { f.ReservedNonZero = true }, model.StatusReservedField},
		{func(f *model.AccountFilter) { f.Flags = 0 }, model.StatusInvalidFilter},
		{func(f *model.AccountFilter) { f.Flags |= 1 << 5 }, model.StatusInvalidFilter},
		{func(f *model.AccountFilter) { f.Limit = 0 }, model.StatusInvalidFilter},
		{func(f *model.AccountFilter) { f.Limit = model.EventsPerRequestMax + 1 }, model.StatusInvalidFilter},
		{func(f *model.AccountFilter) { f.TimestampMin, f.TimestampMax = 5, 4 }, model.StatusInvalidFilter},
		{func(f *model.AccountFilter) { f.AccountID = model.U128(99) }, model.StatusAccountNotFound},
	}
	for _, bad := range badFilters {
		filter := all
		bad.change(&filter)
		if _, status := f.ledger.GetAccountTransfers(&filter, nil); status != bad.status {
			t.Fatalf("filter %+v: %s, want %s", filter, status, bad.status)
		}
	}
	noHistory := all
	noHistory.AccountID = model.U128(1)
	if _, status := f.ledger.GetAccountBalances(&noHistory, nil); status != model.StatusAccountHistoryNotEnabled {
		t.Fatalf("history without the flag: %s", status)
	}
	// Stored accounts keep an internal link in their reserved field; it must never leak.
	for account := range f.ledger.Accounts() {
		if account.Reserved != 0 {
			t.Fatalf("account %s leaks its reserved field", account.ID)
		}
	}
	if f.account(4).Reserved != 0 {
		t.Fatal("lookup leaks the reserved field")
	}
}

// TestDeterminismAcrossSeeds applies the same batches to ledgers with different hash
// seeds: results and digests must be identical (the table layout is not observable).
func TestDeterminismAcrossSeeds(t *testing.T) {
	run := func(seed uint64) ([]model.TransferResult, [32]byte) {
		f := &fixture{t: t, ledger: New(Config{HashSeed: seed}), timestamp: 1_000 * second}
		var accounts []model.Account
		for id := uint64(1); id <= 200; id++ {
			accounts = append(accounts, model.Account{ID: model.U128(id * 7919), Ledger: 1, Code: 1})
		}
		f.accounts(model.StatusOK, accounts...)
		var events []model.Transfer
		for id := uint64(1); id <= 2000; id++ {
			events = append(events, transfer(id*104729, (id%200+1)*7919, ((id*31)%200+1)*7919, id))
		}
		return f.transfers(events...), f.ledger.Digest()
	}
	resultsA, digestA := run(1)
	resultsB, digestB := run(0xdeadbeef)
	if digestA != digestB {
		t.Fatal("digests differ across hash seeds")
	}
	for i := range resultsA {
		if resultsA[i] != resultsB[i] {
			t.Fatalf("event %d differs across seeds", i)
		}
	}
}

func TestSystemIDs(t *testing.T) {
	f := newFixture(t)
	escrow := model.Uint128{Lo: 1, Hi: 1 << 63}
	f.accounts(model.StatusIDReserved, model.Account{ID: escrow, Ledger: 1, Code: 1})
	results := make([]model.EventResult, 1)
	f.ledger.CreateSystemAccounts(f.timestamp, []model.Account{{ID: escrow, Ledger: 1, Code: 1}},
		results)
	if results[0].Status != model.StatusOK {
		t.Fatalf("system account: %s", results[0].Status)
	}
	hold := model.Uint128{Lo: 2, Hi: 1 << 63}
	system := make([]model.TransferResult, 1)
	f.ledger.CreateSystemTransfers(f.timestamp, []model.Transfer{{ID: hold,
		DebitAccountID: model.U128(1), CreditAccountID: escrow, Amount: model.U128(5), Ledger: 1,
		Code: 1, Flags: model.TransferPending}}, system)
	if system[0].Status != model.StatusOK {
		t.Fatalf("system hold: %s", system[0].Status)
	}
	f.expect(model.StatusIDReserved, with(transfer(7, 1, 2, 1), func(t *model.Transfer) {
		t.ID = model.Uint128{Lo: 3, Hi: 1 << 63}
	}))
	f.expect(model.StatusIDReserved, with(transfer(7, 1, 2, 1), func(t *model.Transfer) {
		t.DebitAccountID = escrow
	}))
	f.expect(model.StatusIDReserved, with(transfer(7, 1, 2, 1), func(t *model.Transfer) {
		t.CreditAccountID = escrow
	}))
	f.expect(model.StatusIDReserved, with(void(7, 0), func(t *model.Transfer) { t.PendingID = hold }))
	if b := f.balance(1); b.DebitsPending != model.U128(5) {
		t.Fatalf("the hold was touched: %+v", b)
	}
}
