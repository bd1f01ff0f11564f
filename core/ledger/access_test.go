package ledger

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// Clients of the ownership tests: alice owns accounts 1-2 (ledger 1) and 7 (ledger 2), bob
// owns 3-4 (ledger 1); carol owns nothing and holds grants; olivia is an operator.
const (
	alice  uint64 = 11
	bob    uint64 = 12
	carol  uint64 = 13
	olivia uint64 = 14
)

// ownershipFixture builds the ledger of the ownership tests: alice's and bob's accounts
// funded by the system, and carol's grants (transfer on account 2, read on bob's 3-4,
// trade on ledger 2).
func ownershipFixture(t *testing.T) *fixture {
	f := &fixture{t: t, ledger: New(Config{HashSeed: 5}), timestamp: 1_000 * second}
	create := func(owner uint64, accounts ...model.Account) {
		results := make([]model.EventResult, len(accounts))
		f.ledger.CreateAccountsAs(owner, f.timestamp, accounts, results)
		f.timestamp += uint64(len(accounts))
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("account %s: %s", accounts[i].ID, results[i].Status)
			}
		}
	}
	// Clients' accounts are debit-limited (they may not issue money); bob's account 4,
	// which may go negative, takes an operator's transfer grant to create.
	limited := model.AccountDebitsMustNotExceedCredits
	create(alice, model.Account{ID: model.U128(1), Ledger: 1, Code: 1, Flags: limited},
		model.Account{ID: model.U128(2), Ledger: 1, Code: 1, Flags: limited},
		model.Account{ID: model.U128(7), Ledger: 2, Code: 1, Flags: limited})
	create(bob, model.Account{ID: model.U128(3), Ledger: 1, Code: 1, Flags: limited})
	if err := f.ledger.SetGrants([]model.Grant{{Client: bob, Scopes: model.ScopeTransfer,
		First: model.U128(4), Last: model.U128(4)}}); err != nil {
		t.Fatal(err)
	}
	create(bob, model.Account{ID: model.U128(4), Ledger: 1, Code: 1,
		Flags: model.AccountCreditsMustNotExceedDebits})
	create(0, model.Account{ID: model.U128(9), Ledger: 1, Code: 1})
	for _, funded := range []uint64{1, 2, 3} {
		f.expect(model.StatusOK, transfer(100+funded, 9, funded, 1000))
	}
	err := f.ledger.SetGrants([]model.Grant{
		{Client: carol, Scopes: model.ScopeTransfer, First: model.U128(2), Last: model.U128(2)},
		{Client: carol, Scopes: model.ScopeRead, First: model.U128(3), Last: model.U128(4)},
		{Client: carol, Scopes: model.ScopeTrade, Ledger: 2},
		{Client: olivia, Scopes: model.ScopeOperator},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// as applies one transfer on behalf of client and requires the status.
func (f *fixture) as(client uint64, want model.Status, event model.Transfer) model.TransferResult {
	f.t.Helper()
	results := make([]model.TransferResult, 1)
	f.ledger.CreateTransfersAs(client, true, f.timestamp, []model.Transfer{event}, results)
	f.timestamp++
	if results[0].Status != want {
		f.t.Fatalf("client %d transfer %+v: %s, want %s", client, event, results[0].Status, want)
	}
	return results[0]
}

// TestOwnershipOfTransfers covers each ownership rule of create_transfers for an owner, a
// stranger, a grantee and an operator.
func TestOwnershipOfTransfers(t *testing.T) {
	f := ownershipFixture(t)
	cases := []struct {
		name   string
		client uint64
		event  model.Transfer
		want   model.Status
	}{
		{"owner debits its own account", alice, transfer(200, 1, 3, 5), model.StatusOK},
		{"stranger debits alice's account", bob, transfer(201, 1, 3, 5), model.StatusDebitAccountNotOwned},
		{"stranger pays into alice's account", bob, transfer(202, 3, 1, 5), model.StatusOK},
		{"transfer grant debits account 2", carol, transfer(203, 2, 3, 5), model.StatusOK},
		{"transfer grant does not reach account 1", carol, transfer(204, 1, 3, 5), model.StatusDebitAccountNotOwned},
		{"read grant does not debit", carol, transfer(205, 3, 1, 5), model.StatusDebitAccountNotOwned},
		{"operator debits anyone", olivia, transfer(206, 3, 1, 5), model.StatusOK},
		{"balancing credit on a stranger's account", alice, with(transfer(207, 1, 4, 5),
			func(t *model.Transfer) { t.Flags = model.TransferBalancingCredit }), model.StatusCreditAccountNotOwned},
		{"closing credit on a stranger's account", alice, with(pending(208, 1, 3, 5, 0),
			func(t *model.Transfer) { t.Flags |= model.TransferClosingCredit }), model.StatusCreditAccountNotOwned},
		{"closing debit on its own account", bob, with(pending(209, 3, 1, 5, 0),
			func(t *model.Transfer) { t.Flags |= model.TransferClosingDebit }), model.StatusOK},
		{"missing debit account comes first", bob, transfer(210, 99, 1, 5), model.StatusDebitAccountNotFound},
		{"missing credit account comes first", bob, transfer(211, 1, 99, 5), model.StatusCreditAccountNotFound},
		{"ownership before the ledger check", bob, transfer(212, 7, 3, 5), model.StatusDebitAccountNotOwned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			f.as(c.client, c.want, c.event)
		})
	}
	f.t = t
	// A refusal is transient: the id is remembered, as for a missing account.
	f.as(alice, model.StatusIDAlreadyFailed, transfer(201, 1, 3, 5))
}

// TestOwnershipOfPendingTransfers: the payer and the payee may post or void; nobody else.
func TestOwnershipOfPendingTransfers(t *testing.T) {
	f := ownershipFixture(t)
	for i, c := range []struct {
		resolver uint64
		resolve  func(id, pendingID uint64) model.Transfer
		want     model.Status
	}{
		{alice, func(id, p uint64) model.Transfer { return post(id, p, model.Uint128Max) }, model.StatusOK},
		{bob, func(id, p uint64) model.Transfer { return post(id, p, model.Uint128Max) }, model.StatusOK},
		{bob, void, model.StatusOK},
		{carol, void, model.StatusPendingTransferNotOwned},
		{carol, func(id, p uint64) model.Transfer { return post(id, p, model.Uint128Max) },
			model.StatusPendingTransferNotOwned},
		{olivia, void, model.StatusOK},
	} {
		pendingID := uint64(300 + 10*i)
		f.as(alice, model.StatusOK, pending(pendingID, 1, 3, 7, 0))
		f.as(c.resolver, c.want, c.resolve(pendingID+1, pendingID))
	}
	// The stranger learns nothing from field comparisons: a wrong debit account id
	// answers pending_transfer_not_owned, not pending_transfer_has_different_debit_id.
	f.as(alice, model.StatusOK, pending(400, 1, 3, 7, 0))
	f.as(carol, model.StatusPendingTransferNotOwned, with(void(401, 400),
		func(t *model.Transfer) { t.DebitAccountID = model.U128(2) }))
}

// TestOwnershipOfIDs: exists is for the creator's own retries; another client's id
// answers exists_with_different_owner whatever the fields.
func TestOwnershipOfIDs(t *testing.T) {
	f := ownershipFixture(t)
	results := make([]model.EventResult, 2)
	f.ledger.CreateAccountsAs(bob, f.timestamp, []model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits},           // alice's, identical fields
		{ID: model.U128(3), Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits}}, results) // bob's own retry
	f.timestamp += 2
	if results[0].Status != model.StatusExistsWithDifferentOwner || results[1].Status != model.StatusExists {
		t.Fatalf("retries: %s and %s", results[0].Status, results[1].Status)
	}
	f.as(alice, model.StatusOK, transfer(500, 1, 2, 5))
	f.as(alice, model.StatusExists, transfer(500, 1, 2, 5))
	f.as(bob, model.StatusExistsWithDifferentOwner, transfer(500, 1, 2, 5))
	f.as(bob, model.StatusExistsWithDifferentOwner, transfer(500, 1, 2, 6)) // No amount test.
	f.as(carol, model.StatusExists, transfer(500, 1, 2, 5))                 // Carol may read account 2.
	f.as(alice, model.StatusOK, transfer(501, 1, 3, 5))
	f.as(bob, model.StatusExistsWithDifferentAmount, transfer(501, 1, 3, 6)) // Bob is the payee.
}

// TestOwnershipOfReads: lookups skip what the caller may not read, queries answer
// account_not_found, results hide balances of accounts paid into.
func TestOwnershipOfReads(t *testing.T) {
	f := ownershipFixture(t)
	result := f.as(alice, model.StatusOK, transfer(600, 1, 3, 5))
	if result.CreditAccount != (model.Balance{}) || result.DebitAccount == (model.Balance{}) {
		t.Fatalf("alice sees bob's balances after paying him: %+v", result)
	}
	ids := []model.Uint128{model.U128(1), model.U128(3), model.U128(4), model.U128(7)}
	for _, c := range []struct {
		client uint64
		want   []uint64
	}{{alice, []uint64{1, 7}}, {bob, []uint64{3, 4}}, {carol, []uint64{3, 4, 7}},
		{olivia, []uint64{1, 3, 4, 7}}, {99, nil}} {
		found := f.ledger.LookupAccountsAs(c.client, ids, nil)
		var got []uint64
		for _, account := range found {
			got = append(got, account.ID.Lo)
		}
		if !equalIDs(got, c.want) {
			t.Fatalf("client %d sees accounts %v, want %v", c.client, got, c.want)
		}
	}
	transfers := []model.Uint128{model.U128(600), model.U128(101)}
	for _, c := range []struct {
		client uint64
		want   []uint64
	}{{alice, []uint64{600, 101}}, {bob, []uint64{600}}, {carol, []uint64{600}}, {99, nil}} {
		var got []uint64
		for _, found := range f.ledger.LookupTransfersAs(c.client, transfers, nil) {
			got = append(got, found.ID.Lo)
		}
		if !equalIDs(got, c.want) {
			t.Fatalf("client %d sees transfers %v, want %v", c.client, got, c.want)
		}
	}
	filter := model.AccountFilter{AccountID: model.U128(1), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	if _, status := f.ledger.GetAccountTransfersAs(bob, &filter, nil); status != model.StatusAccountNotFound {
		t.Fatalf("bob queries alice's account: %s", status)
	}
	if found, status := f.ledger.GetAccountTransfersAs(alice, &filter, nil); status != model.StatusOK || len(found) != 2 {
		t.Fatalf("alice queries her account: %s, %d transfers", status, len(found))
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOwnershipSurvivesSnapshot: owners and grants are state: a restored ledger has the
// same digest and refuses and allows exactly as the original, and the digest sees them.
func TestOwnershipSurvivesSnapshot(t *testing.T) {
	f := ownershipFixture(t)
	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{HashSeed: 77}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != f.ledger.Digest() {
		t.Fatal("digest differs after restore")
	}
	for _, owner := range []struct{ id, client uint64 }{{1, alice}, {3, bob}, {9, 0}} {
		if got, _ := restored.Owner(model.U128(owner.id)); got != owner.client {
			t.Fatalf("account %d owned by %d after restore, want %d", owner.id, got, owner.client)
		}
	}
	f.ledger = restored
	f.as(carol, model.StatusOK, transfer(700, 2, 1, 1))
	f.as(carol, model.StatusDebitAccountNotOwned, transfer(701, 1, 2, 1))
	before := restored.Digest()
	if err := restored.SetGrants(nil); err != nil {
		t.Fatal(err)
	}
	if restored.Digest() == before {
		t.Fatal("the digest does not cover the grants")
	}
	f.as(carol, model.StatusDebitAccountNotOwned, transfer(702, 2, 1, 1))
}

// TestSetGrantsRefusesInvalidTables: the table in force is kept when a new one is invalid.
func TestSetGrantsRefusesInvalidTables(t *testing.T) {
	f := ownershipFixture(t)
	for _, grants := range [][]model.Grant{
		{{Client: 0, Scopes: model.ScopeRead}},
		{{Client: 1, Scopes: 0}},
		{{Client: 1, Scopes: 1 << 6}},
		{{Client: 1, Scopes: model.ScopeOperator, Ledger: 1}},
		{{Client: 1, Scopes: model.ScopeRead, First: model.U128(5), Last: model.U128(4)}},
		{{Client: 1, Scopes: model.ScopeRead, Last: model.U128(4)}},
	} {
		if err := f.ledger.SetGrants(grants); err == nil {
			t.Fatalf("grants %+v accepted", grants)
		}
	}
	f.as(carol, model.StatusOK, transfer(800, 2, 1, 1)) // The old table still holds.
}

// TestOwnershipOfLedgerTotals: a client's trial balance covers only the accounts it may
// read; the system and operators see the whole ledger.
func TestOwnershipOfLedgerTotals(t *testing.T) {
	f := ownershipFixture(t)
	filter := model.LedgerFilter{Limit: 10}
	accountsIn := func(client uint64) map[uint32]uint64 {
		found, status := f.ledger.LedgerTotalsAs(client, &filter, nil)
		if status != model.StatusOK {
			t.Fatalf("client %d: %s", client, status)
		}
		counts := map[uint32]uint64{}
		for _, totals := range found {
			counts[totals.Ledger] = totals.Accounts
		}
		return counts
	}
	for _, c := range []struct {
		client uint64
		want   map[uint32]uint64
	}{
		{0, map[uint32]uint64{1: 5, 2: 1}},      // Everything: 1, 2, 3, 4, 9 and 7.
		{olivia, map[uint32]uint64{1: 5, 2: 1}}, // The operator too.
		{alice, map[uint32]uint64{1: 2, 2: 1}},  // Her 1, 2 and 7.
		{bob, map[uint32]uint64{1: 2}},          // His 3 and 4.
		{carol, map[uint32]uint64{1: 3, 2: 1}},  // 2 (transfer), 3 and 4 (read), 7 (trade).
		{99, map[uint32]uint64{}},               // Nothing.
	} {
		got := accountsIn(c.client)
		if len(got) != len(c.want) {
			t.Fatalf("client %d: ledgers %v, want %v", c.client, got, c.want)
		}
		for ledger, count := range c.want {
			if got[ledger] != count {
				t.Fatalf("client %d: ledgers %v, want %v", c.client, got, c.want)
			}
		}
	}
}
