package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestCreatedPlainServesClients: a client's plain transfer that passes every check takes
// createdPlain (it creates it and reports so), whether the client debits its own account
// or one a grant covers, issuing money or not; a client's plain transfer that a right
// refuses is left to createTransfer with nothing written. TestCreatedPlainMatchesGeneralPath
// compares results and state only, which are the same when createdPlain declines every
// client transfer: a batch that skips it for clients (as before session 48) passed that
// test, and this one fails for it.
func TestCreatedPlainServesClients(t *testing.T) {
	l := New(Config{HashSeed: 5})
	// Alice owns 1 and 2 (created under a transfer grant, withdrawn since), the system 3;
	// none has a flag that sends a transfer to the general path.
	if err := l.SetGrants([]model.Grant{{Client: alice, Scopes: model.ScopeTransfer,
		Ledger: 1, First: model.U128(1), Last: model.U128(2)}}); err != nil {
		t.Fatal(err)
	}
	l.SetIssuingChecked(true)
	timestamp := uint64(1_000 * second)
	owned := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}
	accountResults := make([]model.EventResult, len(owned)+1)
	l.CreateAccountsAs(alice, timestamp, owned, accountResults[:len(owned)])
	timestamp += uint64(len(owned))
	l.CreateAccountsAs(0, timestamp, []model.Account{{ID: model.U128(3), Ledger: 1, Code: 1}},
		accountResults[len(owned):])
	timestamp++
	for i := range accountResults {
		if accountResults[i].Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, accountResults[i].Status)
		}
	}
	if err := l.SetGrants([]model.Grant{
		{Client: bob, Scopes: model.ScopeTransfer, Ledger: 1},
		{Client: olivia, Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name          string
		client        uint64
		debit, credit uint64
		amount        uint64
		fast          bool // createdPlain creates it; else it declines and writes nothing.
		creditShown   bool // The credit account's balances in the result.
	}{
		{"the operator funds alice's 1", olivia, 3, 1, 100, true, true},
		{"alice, her 1 to her 2", alice, 1, 2, 10, true, true},
		{"alice, her 1 to the system's 3", alice, 1, 3, 10, true, false},
		{"bob, through his grant, alice's 1 to 3", bob, 1, 3, 5, true, true},
		{"bob issues on 3 through his grant", bob, 3, 2, 500, true, true},
		{"alice may not debit the system's 3", alice, 3, 1, 1, false, false},
		{"alice may not issue on her 2 (510 in)", alice, 2, 1, 511, false, false},
		{"carol may not debit alice's 1", carol, 1, 2, 1, false, false},
	}
	for i, step := range steps {
		events := []model.Transfer{{ID: model.U128(uint64(100 + i)),
			DebitAccountID: model.U128(step.debit), CreditAccountID: model.U128(step.credit),
			Amount: model.U128(step.amount), Ledger: 1, Code: 1}}
		// CreateTransfersAs up to its apply, for one event.
		l.actAs(step.client)
		l.resultBalances = true
		l.resolveShort(events)
		l.transferIndex.prepareInsert()
		transfersBefore := l.transfers.count
		debitBefore := *l.batch.accounts[0].debit
		creditBefore := *l.batch.accounts[0].credit
		var result model.TransferResult
		created := l.createdPlain(&events[0], timestamp, 0, &result)
		timestamp++
		if created != step.fast {
			t.Fatalf("%s: createdPlain %v, want %v", step.name, created, step.fast)
		}
		if !created {
			if l.transfers.count != transfersBefore || *l.batch.accounts[0].debit != debitBefore ||
				*l.batch.accounts[0].credit != creditBefore ||
				result != (model.TransferResult{}) {
				t.Fatalf("%s: declined but wrote", step.name)
			}
			continue
		}
		if result.Status != model.StatusOK || l.transfers.count != transfersBefore+1 ||
			result.DebitAccount.DebitsPosted != debitBefore.DebitsPosted.MustAdd(model.U128(step.amount)) {
			t.Fatalf("%s: %+v", step.name, result)
		}
		if shown := result.CreditAccount != (model.Balance{}); shown != step.creditShown {
			t.Fatalf("%s: credit balances shown %v, want %v", step.name, shown, step.creditShown)
		}
	}
}
