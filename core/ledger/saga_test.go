package ledger

import (
	"testing"

	"sequent/core/model"
)

// sagaFixture adds a settlement account (a system account) to the standard fixture.
func sagaFixture(t *testing.T) (*fixture, model.Uint128) {
	f := newFixture(t)
	settlement := model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48}
	results := make([]model.EventResult, 1)
	f.ledger.CreateSystemAccounts(f.timestamp, []model.Account{{ID: settlement, Ledger: 1,
		Code: 1}}, results)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("settlement account: %s", results[0].Status)
	}
	return f, settlement
}

func (f *fixture) saga(events ...model.Transfer) []model.TransferResult {
	results := make([]model.TransferResult, len(events))
	f.ledger.CreateSagaTransfers(f.timestamp, events, results)
	f.timestamp += uint64(len(events))
	return results
}

// A saga's step 1 carries the client's id into a settlement account; only the saga may
// resolve it, never a client (which could otherwise void a debit after the credit shard
// credited: money out of nothing).
func TestSagaStepOneIsOnlyResolvedBySystem(t *testing.T) {
	f, settlement := sagaFixture(t)
	step := with(pending(40, 1, 0, 30, 0), func(t *model.Transfer) { t.CreditAccountID = settlement })
	if status := f.saga(step)[0].Status; status != model.StatusOK {
		t.Fatalf("step 1: %s", status)
	}
	f.expect(model.StatusIDReserved, void(41, 40))
	f.expect(model.StatusIDReserved, post(42, 40, model.Uint128Max))
	if b := f.balance(1); b.DebitsPending != model.U128(30) {
		t.Fatalf("step 1 touched by a client: %+v", b)
	}
	// The client's id is taken: a local transfer with it is a different transfer.
	f.expect(model.StatusExistsWithDifferentFlags, transfer(40, 1, 2, 30))
	postID := model.Uint128{Lo: 7, Hi: 1<<63 | 0x73<<48 | 3<<40}
	resolution := with(post(0, 40, model.U128(20)), func(t *model.Transfer) { t.ID = postID })
	if status := f.saga(resolution)[0].Status; status != model.StatusOK {
		t.Fatalf("saga post: %s", status)
	}
	if b := f.balance(1); b.DebitsPending != (model.Uint128{}) || b.DebitsPosted != model.U128(20) {
		t.Fatalf("after a partial post of 20: %+v", b)
	}
}

// The saga's post must happen whatever happened to the debit account meanwhile: the
// credit shard has already credited.
func TestSagaPostIgnoresClosedAccountAndTransfersLimit(t *testing.T) {
	l := New(Config{TransfersMax: 2})
	settlement := model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48}
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1}},
		make([]model.EventResult, 1))
	l.CreateSystemAccounts(2, []model.Account{{ID: settlement, Ledger: 1, Code: 1}},
		make([]model.EventResult, 1))
	results := make([]model.TransferResult, 1)
	step := model.Transfer{ID: model.U128(10), DebitAccountID: model.U128(1),
		CreditAccountID: settlement, Amount: model.U128(5), Ledger: 1, Code: 1,
		Flags: model.TransferPending}
	l.CreateSagaTransfers(3, []model.Transfer{step}, results)
	if results[0].Status != model.StatusOK {
		t.Fatalf("step 1: %s", results[0].Status)
	}
	// Close the debit account with a pending closing transfer (the second transfer: the
	// limit is now reached).
	closing := model.Transfer{ID: model.U128(11), DebitAccountID: model.U128(1),
		CreditAccountID: settlement, Amount: model.U128(0), Ledger: 1, Code: 1,
		Flags: model.TransferPending | model.TransferClosingDebit}
	l.CreateSagaTransfers(4, []model.Transfer{closing}, results)
	if results[0].Status != model.StatusOK {
		t.Fatalf("closing: %s", results[0].Status)
	}
	postID := model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48 | 3<<40}
	l.CreateSagaTransfers(5, []model.Transfer{{ID: postID, PendingID: model.U128(10),
		Amount: model.Uint128Max, Flags: model.TransferPostPending}}, results)
	if results[0].Status != model.StatusOK {
		t.Fatalf("saga post on a closed account at the limit: %s", results[0].Status)
	}
	// A plain system post would have been refused.
	l.CreateSystemTransfers(6, []model.Transfer{{ID: model.Uint128{Lo: 2, Hi: 1 << 63},
		PendingID: model.U128(11), Flags: model.TransferPostPending}}, results)
	if results[0].Status != model.StatusTransfersLimitReached {
		t.Fatalf("system post at the limit: %s", results[0].Status)
	}
}

// A step 1 that fails for a transient reason is remembered under the client's id, as a
// local transfer would be: the outcome of a retry must not change.
func TestSagaStepOneRemembersTransientFailures(t *testing.T) {
	f, settlement := sagaFixture(t)
	step := with(pending(50, 3, 0, 30, 0), func(t *model.Transfer) { t.CreditAccountID = settlement })
	if status := f.saga(step)[0].Status; status != model.StatusExceedsCredits {
		t.Fatalf("step 1 over the limit: %s", status)
	}
	if status, _ := f.ledger.CheckNewTransfer(0, &model.Transfer{ID: model.U128(50),
		DebitAccountID: model.U128(3), CreditAccountID: model.U128(99), Amount: model.U128(1),
		Ledger: 1, Code: 1}); status != model.StatusIDAlreadyFailed {
		t.Fatalf("retry: %s, want id_already_failed", status)
	}
}

// CheckNewTransfer answers the checks before the account checks in the ledger's order.
func TestCheckNewTransfer(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(1, 1, 2, 10))
	f.expect(model.StatusExceedsCredits, transfer(2, 3, 2, 10))
	tests := []struct {
		name  string
		event model.Transfer
		want  model.Status
	}{
		{"new", transfer(9, 1, 777, 10), model.StatusOK},
		{"timestamp", with(transfer(9, 1, 2, 1), func(t *model.Transfer) { t.Timestamp = 1 }),
			model.StatusTimestampMustBeZero},
		{"reserved id", with(transfer(9, 1, 2, 1), func(t *model.Transfer) {
			t.CreditAccountID = model.Uint128{Hi: 1 << 63}
		}), model.StatusIDReserved},
		{"exists", transfer(1, 1, 2, 10), model.StatusExists},
		{"exists with different amount", transfer(1, 1, 2, 11), model.StatusExistsWithDifferentAmount},
		{"failed before", transfer(2, 3, 2, 10), model.StatusIDAlreadyFailed},
		{"validation", transfer(9, 1, 1, 10), model.StatusAccountsMustBeDifferent},
		{"timeout on a single-phase transfer", with(transfer(9, 1, 2, 1), func(t *model.Transfer) {
			t.Timeout = 5
		}), model.StatusTimeoutReservedForPendingTransfer},
	}
	for _, test := range tests {
		if status, _ := f.ledger.CheckNewTransfer(0, &test.event); status != test.want {
			t.Errorf("%s: %s, want %s", test.name, status, test.want)
		}
	}
}
