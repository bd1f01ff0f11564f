package ledger

import (
	"slices"
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

// TestClientsMayNotIssueMoney: an account without debits_must_not_exceed_credits can go
// negative, so its owner could debit it without limit and pay the money created into
// its other accounts, then spend or trade it like anyone's. A client without a transfer
// grant over the new account may therefore create only debit-limited accounts; the
// system, operators and a transfer grant covering the account may create any kind.
func TestClientsMayNotIssueMoney(t *testing.T) {
	f := ownershipFixture(t)
	if err := f.ledger.SetGrants(append(slices.Clone(f.ledger.Grants()),
		model.Grant{Client: carol, Scopes: model.ScopeTransfer, Ledger: 3},
		model.Grant{Client: carol, Scopes: model.ScopeRead, Ledger: 4})); err != nil {
		t.Fatal(err)
	}
	limited, debitNormal := model.AccountDebitsMustNotExceedCredits,
		model.AccountCreditsMustNotExceedDebits
	for _, c := range []struct {
		name   string
		client uint64
		id     uint64
		ledger uint32
		flags  uint16
		want   model.Status
	}{
		{"a client's plain account", alice, 30, 1, 0, model.StatusDebitsMustNotExceedCreditsRequired},
		{"a client's debit-normal account", alice, 31, 1, debitNormal, model.StatusDebitsMustNotExceedCreditsRequired},
		{"a client's debit-limited account", alice, 32, 1, limited, model.StatusOK},
		{"with history", bob, 33, 1, limited | model.AccountHistory, model.StatusOK},
		{"a trade grant is not enough", carol, 34, 2, 0, model.StatusDebitsMustNotExceedCreditsRequired},
		{"nor a read grant", carol, 35, 4, 0, model.StatusDebitsMustNotExceedCreditsRequired},
		{"a transfer grant over the ledger", carol, 36, 3, 0, model.StatusOK},
		{"an operator", olivia, 37, 1, 0, model.StatusOK},
		{"the system", 0, 38, 1, debitNormal, model.StatusOK},
		{"static checks first", alice, 39, 0, 0, model.StatusLedgerMustNotBeZero},
	} {
		results := make([]model.EventResult, 1)
		f.ledger.CreateAccountsAs(c.client, f.timestamp, []model.Account{{ID: model.U128(c.id),
			Ledger: c.ledger, Code: 1, Flags: c.flags}}, results)
		f.timestamp++
		if results[0].Status != c.want {
			t.Errorf("%s: %s, want %s", c.name, results[0].Status, c.want)
		}
	}
	// What the rule prevents: had alice's plain account 30 been created, she could have
	// debited it without limit into her debit-limited account 32 and spent the result.
	f.as(alice, model.StatusDebitAccountNotFound, transfer(160, 30, 32, 1_000_000))
	if balance := f.balance(32); !balance.CreditsPosted.IsZero() {
		t.Fatalf("alice's account 32 was paid: %+v", balance)
	}
}
