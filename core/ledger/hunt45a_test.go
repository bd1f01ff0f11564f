package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestHunt45aPostRetryComparesTheAmountEvenWhenZero pins what PROTOCOL.md section 10
// said otherwise before this branch ("a retry of a post or void by id compares only the
// fields given as non-zero"): a post's amount is not inherited, 0 posts nothing, so a
// retry of a post is compared on its amount as sent (2^128-1 also matching a post of the
// full pending amount); only a void's amount of 0 matches anything (it always moves the
// pending amount). The other zero fields do match anything.
func TestHunt45aPostRetryComparesTheAmountEvenWhenZero(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, pending(7, 1, 2, 50, 0))
	f.expect(model.StatusOK, post(8, 7, model.U128(30)))
	f.expect(model.StatusExists, post(8, 7, model.U128(30)))
	f.expect(model.StatusExistsWithDifferentAmount, post(8, 7, model.Uint128{}))
	f.expect(model.StatusExistsWithDifferentAmount, post(8, 7, model.Uint128Max))
	// The zero fields of a retry (accounts, ledger, code, user data) match anything.
	f.expect(model.StatusExists, with(post(8, 7, model.U128(30)), func(t *model.Transfer) {
		t.DebitAccountID, t.Ledger, t.Code = model.U128(1), 1, 1
	}))

	// A post of nothing (amount 0) releases the whole pending amount; its retry with 0
	// is the same post, one with 2^128-1 is not.
	f.expect(model.StatusOK, pending(9, 1, 2, 40, 0))
	f.expect(model.StatusOK, post(10, 9, model.Uint128{}))
	if b := f.balance(1); b.DebitsPosted != model.U128(30) || !b.DebitsPending.IsZero() {
		t.Fatalf("after a post of 0: %+v", b)
	}
	f.expect(model.StatusExists, post(10, 9, model.Uint128{}))
	f.expect(model.StatusExistsWithDifferentAmount, post(10, 9, model.Uint128Max))
}

// TestHunt45aOverduePendingHoldsItsAmountUntilSwept pins PROTOCOL.md section 10's
// "Timeouts" paragraph: past its deadline a pending transfer answers
// pending_transfer_expired to a post or void at once, but its amount is released only by
// the sweep at the start of a log entry whose timestamp reaches the deadline (Expire), at
// most ExpiriesPerPulseMax per entry, earliest deadline first; until then it still
// counts in the payer's debits_pending and balance limit.
func TestHunt45aOverduePendingHoldsItsAmountUntilSwept(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, transfer(7, 1, 3, 50)) // Account 3 (debit-limited) holds 50.
	f.expect(model.StatusOK, pending(8, 3, 2, 50, 1))
	f.timestamp += 2 * second // Past the deadline, before any sweep.
	f.expect(model.StatusPendingTransferExpired, post(9, 8, model.Uint128Max))
	if b := f.balance(3); b.DebitsPending != model.U128(50) {
		t.Fatalf("overdue, not swept: %+v", b)
	}
	f.expect(model.StatusExceedsCredits, transfer(10, 3, 2, 1))
	if expired := f.tick(0); expired != 1 {
		t.Fatalf("the sweep expired %d", expired)
	}
	f.expect(model.StatusOK, transfer(11, 3, 2, 50))

	// An expiry adds no entry to an account's balance history (account 4 keeps one).
	f.expect(model.StatusOK, pending(12, 4, 2, 5, 1))
	f.tick(2 * second)
	filter := model.AccountFilter{AccountID: model.U128(4), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	history, status := f.ledger.GetAccountBalances(&filter, nil)
	if b := f.balance(4); status != model.StatusOK || len(history) != 1 ||
		history[0].DebitsPending != model.U128(5) || !b.DebitsPending.IsZero() {
		t.Fatalf("history %+v (%s) of an account now %+v", history, status, b)
	}

	// More than one sweep's worth due at once: the first sweep takes the earliest
	// ExpiriesPerPulseMax, the next entry's sweep the rest.
	g := newFixture(t)
	g.expect(model.StatusOK, transfer(7, 1, 2, 1))
	due := make([]model.Transfer, model.EventsPerRequestMax)
	for batch := range 2 {
		for i := range due {
			due[i] = pending(uint64(1000+batch*len(due)+i), 1, 2, 1, 1)
		}
		for i, result := range g.transfers(due...) {
			if result.Status != model.StatusOK {
				t.Fatalf("pending %d: %s", i, result.Status)
			}
		}
	}
	g.timestamp += 2 * second
	if expired := g.tick(0); expired != ExpiriesPerPulseMax {
		t.Fatalf("first sweep: %d", expired)
	}
	if b := g.balance(1); b.DebitsPending != model.U128(uint64(2*len(due)-ExpiriesPerPulseMax)) {
		t.Fatalf("after the first sweep: %+v", b)
	}
	if expired := g.tick(1); expired != 2*len(due)-ExpiriesPerPulseMax {
		t.Fatalf("second sweep: %d", expired)
	}
}
