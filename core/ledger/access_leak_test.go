package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestPayingIntoAStrangerRevealsNoBalance: anyone may pay into an existing account, but
// the answer must not depend on what that account holds. With the overflow checks of
// the credit account before the payer's own limit, a client with an empty, debit-limited
// account learned a stranger's credits_posted (and credits_pending) exactly, at no cost:
// a probe of 2^128-1-x answered overflows_credits_posted when the stranger's credits
// exceed x and exceeds_credits otherwise, so a binary search over x took 128 refused
// transfers. For a client that is not an operator the payer's own checks now come first:
// it cannot afford such an amount, so every probe answers exceeds_credits.
func TestPayingIntoAStrangerRevealsNoBalance(t *testing.T) {
	f := ownershipFixture(t)
	results := make([]model.EventResult, 1)
	f.ledger.CreateAccountsAs(alice, f.timestamp, []model.Account{{ID: model.U128(20),
		Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("alice's account: %s", results[0].Status)
	}
	f.expect(model.StatusOK, transfer(120, 9, 20, 1000)) // Alice holds 1000.
	// Bob's account 3 was paid 1000: credits_posted 1000, credits_pending 0.
	above := model.Uint128Max.MustSub(model.U128(999)) // + 1000 overflows.
	below := model.Uint128Max.MustSub(model.U128(1000))
	for _, amount := range []model.Uint128{above, below} {
		single := transfer(130, 20, 3, 0)
		single.Amount = amount
		f.as(alice, model.StatusExceedsCredits, with(single, func(t *model.Transfer) {
			t.ID = model.U128(131 + amount.Lo%2)
		}))
		held := pending(140, 20, 3, 0, 0)
		held.Amount = amount
		f.as(alice, model.StatusExceedsCredits, with(held, func(t *model.Transfer) {
			t.ID = model.U128(141 + amount.Lo%2)
		}))
	}
	// The system and operators keep TigerBeetle's order: they may read the credit
	// account anyway.
	operator := transfer(151, 20, 3, 0)
	operator.Amount = above
	f.as(olivia, model.StatusOverflowsCreditsPosted, operator)
	if balance := f.balance(3); balance.CreditsPosted != model.U128(1000) ||
		!balance.CreditsPending.IsZero() {
		t.Fatalf("bob's account moved: %+v", balance)
	}
}
