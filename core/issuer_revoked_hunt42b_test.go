package core

import (
	"testing"

	"sequent/core/model"
)

// TestIssuingStopsWhenTheGrantIsWithdrawn: an account without
// debits_must_not_exceed_credits can go negative, so debiting it creates money on its
// ledger; PROTOCOL.md section 5 lets only the operator scope or a transfer grant
// covering it create one ("it takes the right to move others' money there, not just a
// login": ledger.mayIssue). But the right is checked only when the account is created:
// the client then owns it, and an owner may always debit its own account. So a client
// whose transfer grant over ledger 2 was withdrawn keeps issuing money there for ever
// with the account it created under the grant, money it can spend like any other (on
// the owner's resting orders, which TestSelfIssuedMoneyCannotBuy shows a client without
// the right cannot reach). Method: grant the payer transfer over ids 3000-3999 of ledger 2;
// it creates an unlimited account 3000 and a limited 3001; the grant is withdrawn (a
// logged set_grants); the payer then moves 1,000,000 from 3000 to 3001. Expected: refused
// (nothing created), as the creation of such an account would be now.
func TestIssuingStopsWhenTheGrantIsWithdrawn(t *testing.T) {
	h, _ := matrixMachine(t)
	h.upgradeRules(rulesVersionIssuingRight) // Below it, as before (TestIssuingRightRulesVersion).
	operator := model.Grant{Client: matrixOperator, Scopes: model.ScopeOperator}
	issuer := model.Grant{Client: matrixPayer, Scopes: model.ScopeTransfer, Ledger: 2,
		First: model.U128(3000), Last: model.U128(3999)}
	h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, []model.Grant{operator, issuer})})
	h.expectEvents(Request{Client: matrixPayer, Session: 9, Number: 1,
		Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(3000), Ledger: 2, Code: 1},
			&model.Account{ID: model.U128(3001), Ledger: 2, Code: 1, Flags: matrixLimited})})
	h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, []model.Grant{operator})}) // Withdrawn.
	// Creating another such account is refused now...
	out := h.apply(Request{Client: matrixPayer, Session: 9, Number: 2,
		Operation: model.OperationCreateAccounts, Body: encodeRecords(model.AccountSize,
			&model.Account{ID: model.U128(3002), Ledger: 2, Code: 1})})
	if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status !=
		model.StatusDebitsMustNotExceedCreditsRequired {
		t.Fatalf("a new unlimited account after the withdrawal: %s", status)
	}
	// ...but the one made under the grant still issues money.
	issued := h.transferStatus(matrixPayer, model.Transfer{ID: model.U128(3100),
		DebitAccountID: model.U128(3000), CreditAccountID: model.U128(3001),
		Amount: model.U128(1_000_000), Ledger: 2, Code: 1})
	balance := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(3001)}, nil)[0]
	if issued == model.StatusOK || !balance.CreditsPosted.IsZero() {
		t.Errorf("after its transfer grant over ledger 2 was withdrawn, the payer issued "+
			"money there from the account it created under the grant: %s, account 3001 "+
			"credited %s", issued, balance.CreditsPosted)
	}
}
