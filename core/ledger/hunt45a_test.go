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
