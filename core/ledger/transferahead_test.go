package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestCreateTransferAheadSeesAccountsCreatedSince: the candidates PrefetchTransferRecords
// found are from before the apply; an account created in between (here the credit
// account, which had no candidate) must be found, as CreateTransfersAs finds it.
func TestCreateTransferAheadSeesAccountsCreatedSince(t *testing.T) {
	f := newFixture(t)
	event := transfer(500, 1, 77, 5)
	var ahead TransferLookahead
	f.ledger.PrefetchTransferSlots(0, false, &event, &ahead)
	f.ledger.PrefetchTransferRecords(&ahead)
	f.accounts(model.StatusOK, model.Account{ID: model.U128(77), Ledger: 1, Code: 10})
	results := make([]model.TransferResult, 1)
	f.ledger.CreateTransferAheadAs(0, true, f.timestamp, []model.Transfer{event}, results,
		&ahead)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("transfer to an account created after the lookahead: %s", results[0].Status)
	}
}

// TestCreateTransferAheadMatchesCreateTransfers applies the same transfers to two
// ledgers, one by CreateTransfersAs and one by CreateTransferAheadAs with the stages run
// a transfer ahead (as the core's lookahead does), with accounts created between the
// stages and the apply, and ahead values of another transfer passed now and then: the
// results and the ledgers' digests must be the same.
func TestCreateTransferAheadMatchesCreateTransfers(t *testing.T) {
	plain, ahead := newFixture(t), newFixture(t)
	const (
		clients   = 3
		transfers = 3_000
	)
	// Clients 1-3 may create accounts without a limit, and move money on them.
	var grants []model.Grant
	for client := uint64(1); client <= clients; client++ {
		grants = append(grants, model.Grant{Client: client, Scopes: model.ScopeTransfer, Ledger: 1})
	}
	for _, f := range []*fixture{plain, ahead} {
		if err := f.ledger.SetGrants(grants); err != nil {
			t.Fatal(err)
		}
	}
	nextAccount := uint64(100)
	create := func(owner uint64) {
		account := model.Account{ID: model.U128(nextAccount), Ledger: 1, Code: 10}
		nextAccount++
		for _, f := range []*fixture{plain, ahead} {
			results := make([]model.EventResult, 1)
			f.ledger.CreateAccountsAs(owner, f.timestamp, []model.Account{account}, results)
			f.timestamp++
			if results[0].Status != model.StatusOK {
				t.Fatalf("account: %s", results[0].Status)
			}
		}
	}
	for client := uint64(0); client <= clients; client++ {
		create(client)
	}
	// Deterministic pseudo-random choices (a linear congruential generator).
	state := uint64(12345)
	next := func(n uint64) uint64 {
		state = state*6364136223846793005 + 1442695040888963407
		return state >> 33 % n
	}
	event := func(i uint64) model.Transfer {
		// Accounts that exist, and now and then one a few ids ahead, not created yet.
		pick := func() uint64 { return 100 + next(nextAccount-100+4) }
		return transfer(1_000+i, pick(), pick(), 1+next(10))
	}
	var stages [2]TransferLookahead // The transfer being applied, and the next.
	var previous TransferLookahead  // The last transfer's, both stages run.
	events := []model.Transfer{event(0), event(1)}
	clientOf := func(i uint64) uint64 { return i % (clients + 1) }
	ahead.ledger.PrefetchTransferSlots(clientOf(0), false, &events[0], &stages[0])
	for i := uint64(0); i < transfers; i++ {
		ahead.ledger.PrefetchTransferRecords(&stages[0])
		ahead.ledger.PrefetchTransferSlots(clientOf(i+1), false, &events[1], &stages[1])
		if next(8) == 0 {
			create(next(clients + 1))
		}
		client, balances := clientOf(i), next(2) == 0
		used := &stages[0]
		switch next(16) {
		case 0:
			used = &stages[1] // Only its slots seen: not to be used.
		case 1:
			used = &previous // Another transfer's: must not be taken for this one.
		}
		var want, got [1]model.TransferResult
		plain.ledger.CreateTransfersAs(client, balances, plain.timestamp, events[:1], want[:])
		ahead.ledger.CreateTransferAheadAs(client, balances, ahead.timestamp, events[:1],
			got[:], used)
		plain.timestamp++
		ahead.timestamp++
		if want != got {
			t.Fatalf("transfer %d: %+v, want %+v", i, got[0], want[0])
		}
		previous = stages[0]
		stages[0], events[0], events[1] = stages[1], events[1], event(i+2)
	}
	if plain.ledger.Digest() != ahead.ledger.Digest() {
		t.Fatal("digests differ")
	}
	if plain.ledger.TransferCount() < transfers/4 {
		t.Fatalf("only %d transfers created: the test misses its point",
			plain.ledger.TransferCount())
	}
}

// TestCreateTransferAheadConfirmsCandidates: a lookahead's candidate is only the first
// account in the id's probe run whose 32-bit tag matches. Here the debit account's id
// shares its tag with an account that exists at the lookahead, so the candidate is that
// other account; the debit account is then created (after a linked chain that created
// it and was undone) before the apply, which must debit it and not the candidate. A
// second transfer's debit account is created and undone in between, its index taken by
// another account: the apply must find no account. Results and digests are compared
// with CreateTransfersAs on a twin ledger.
func TestCreateTransferAheadConfirmsCandidates(t *testing.T) {
	plain, ahead := newFixture(t), newFixture(t)
	// Two ids with one tag (a birthday search: about 2^16 ids for even odds).
	table := &ahead.ledger.accountIndex
	seen := map[uint64]uint64{}
	var holder, debit uint64
	for id := uint64(1_000); debit == 0; id++ {
		tag := tagOf(table.hash(model.U128(id)))
		if other, found := seen[tag]; found {
			holder, debit = other, id
		}
		seen[tag] = id
		if id > 10_000_000 {
			t.Fatal("no two ids with one tag")
		}
	}
	create := func(want []model.Status, accounts ...model.Account) {
		t.Helper()
		for _, f := range []*fixture{plain, ahead} {
			results := make([]model.EventResult, len(accounts))
			f.ledger.CreateAccounts(f.timestamp, accounts, results)
			f.timestamp += uint64(len(accounts))
			for i := range results {
				if results[i].Status != want[i] {
					t.Fatalf("account %s: %s, want %s", accounts[i].ID, results[i].Status,
						want[i])
				}
			}
		}
	}
	account := func(id uint64, flags uint16, ledger uint32) model.Account {
		return model.Account{ID: model.U128(id), Ledger: ledger, Code: 10, Flags: flags}
	}
	ok := []model.Status{model.StatusOK}
	undone := []model.Status{model.StatusLinkedEventFailed, model.StatusLedgerMustNotBeZero}
	apply := func(event model.Transfer, stages *TransferLookahead, want model.Status) {
		t.Helper()
		var plainResult, aheadResult [1]model.TransferResult
		plain.ledger.CreateTransfersAs(0, true, plain.timestamp, []model.Transfer{event},
			plainResult[:])
		ahead.ledger.CreateTransferAheadAs(0, true, ahead.timestamp, []model.Transfer{event},
			aheadResult[:], stages)
		plain.timestamp++
		ahead.timestamp++
		if aheadResult != plainResult || plainResult[0].Status != want {
			t.Fatalf("transfer %s: %+v, want %+v (%s)", event.ID, aheadResult[0],
				plainResult[0], want)
		}
	}

	create(ok, account(holder, 0, 1))
	first := transfer(900, debit, 2, 7)
	var stages TransferLookahead
	ahead.ledger.PrefetchTransferSlots(0, true, &first, &stages)
	ahead.ledger.PrefetchTransferRecords(&stages)
	holderIndex, _ := ahead.ledger.findAccount(model.U128(holder))
	if stages.debitCandidate != holderIndex {
		t.Fatalf("debit candidate %d, want the tag's holder at %d: the test misses its point",
			stages.debitCandidate, holderIndex)
	}
	create(undone, account(debit, model.AccountLinked, 1), account(debit+1, 0, 0))
	create(ok, account(debit, 0, 1))
	apply(first, &stages, model.StatusOK)
	if moved, untouched := ahead.account(debit), ahead.account(holder); moved.DebitsPosted !=
		model.U128(7) || !untouched.DebitsPosted.IsZero() {
		t.Fatalf("debited %s and %s, want 7 and 0", moved.DebitsPosted, untouched.DebitsPosted)
	}

	second := transfer(901, 555, 2, 7)
	ahead.ledger.PrefetchTransferSlots(0, true, &second, &stages)
	ahead.ledger.PrefetchTransferRecords(&stages)
	create(undone, account(555, model.AccountLinked, 1), account(556, 0, 0))
	create(ok, account(557, 0, 1)) // At the index account 555 had.
	apply(second, &stages, model.StatusDebitAccountNotFound)

	if plain.ledger.Digest() != ahead.ledger.Digest() {
		t.Fatal("digests differ")
	}
}
