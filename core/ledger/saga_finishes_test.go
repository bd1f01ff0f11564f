package ledger

import (
	"reflect"
	"testing"

	"sequent/core/model"
)

// CreateSagaFinishes takes where each pending transfer is stored, and a post that names
// its accounts takes them from the batch's stages instead of looking them up: neither may
// change a result or the state. Method: three ledgers with the same step 1s resolve the
// same batch of posts and voids; one through CreateSagaTransfers, one through
// CreateSagaFinishes with indexes right, pointing at another pending transfer, past the
// end, and one through CreateSagaTransfers with the posts' account fields cleared. The
// batch holds posts and voids that succeed, one naming a wrong debit account, one of a
// pending id that does not exist (its index pointing at a real one), and a second post
// of a transfer posted earlier in the batch. Results and digests must be equal.
func TestSagaFinishesMatchLookups(t *testing.T) {
	type run struct {
		f       *fixture
		indexes []uint32 // Storage index of each step 1, by pending id - 100.
	}
	setup := func() run {
		f, settlement := sagaFixture(t)
		var steps []model.Transfer
		for i := range uint64(6) {
			steps = append(steps, with(pending(100+i, 1+i%2, 0, 10+i, 0),
				func(t *model.Transfer) { t.CreditAccountID = settlement }))
		}
		r := run{f: f}
		for i, result := range f.saga(steps...) {
			if result.Status != model.StatusOK {
				t.Fatalf("step 1 %d: %s", i, result.Status)
			}
			index, ok := f.ledger.TransferIndex(steps[i].ID)
			if !ok {
				t.Fatalf("step 1 %d not stored", i)
			}
			r.indexes = append(r.indexes, index)
		}
		return r
	}
	settlement := model.Uint128{Lo: 1, Hi: 1<<63 | 0x73<<48}
	id := func(n uint64) model.Uint128 { return model.Uint128{Lo: n, Hi: 1<<63 | 0x73<<48 | 3<<40} }
	named := func(t model.Transfer, debit uint64) model.Transfer {
		t.DebitAccountID, t.CreditAccountID = model.U128(debit), settlement
		return t
	}
	events := []model.Transfer{
		named(with(post(0, 100, model.U128(4)), func(t *model.Transfer) { t.ID = id(1) }), 1),
		named(with(void(0, 101), func(t *model.Transfer) { t.ID = id(2) }), 2),
		with(post(0, 102, model.Uint128Max), func(t *model.Transfer) { t.ID = id(3) }),
		named(with(post(0, 103, model.U128(13)), func(t *model.Transfer) { t.ID = id(4) }), 1), // Wrong debit.
		named(with(post(0, 104, model.U128(14)), func(t *model.Transfer) { t.ID = id(5) }), 1),
		with(post(0, 999, model.U128(1)), func(t *model.Transfer) { t.ID = id(6) }),           // No such pending.
		named(with(post(0, 100, model.U128(1)), func(t *model.Transfer) { t.ID = id(7) }), 1), // Posted above.
		named(with(void(0, 105), func(t *model.Transfer) { t.ID = id(8) }), 2),
	}
	resolve := func(r run, events []model.Transfer, pendings []uint32) []model.TransferResult {
		results := make([]model.TransferResult, len(events))
		if pendings == nil {
			r.f.ledger.CreateSagaTransfers(r.f.timestamp, events, results)
		} else {
			r.f.ledger.CreateSagaFinishes(r.f.timestamp, events, pendings, results)
		}
		return results
	}
	lookups, hinted, cleared := setup(), setup(), setup()
	want := resolve(lookups, events, nil)
	x := hinted.indexes
	// Right, right, pointing at 104's step, right, past the end, pointing at 100's step
	// (for a pending id that does not exist), right, pointing at 101's step.
	got := resolve(hinted, events, []uint32{x[0], x[1], x[4], x[3], 1 << 30, x[0], x[0], x[1]})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with indexes:\n got %+v\nwant %+v", got, want)
	}
	if hinted.f.ledger.Digest() != lookups.f.ledger.Digest() {
		t.Fatal("with indexes: the ledgers differ")
	}
	unnamed := append([]model.Transfer(nil), events...)
	for i := range unnamed {
		if i != 3 { // The wrong debit stays named: its status comes from the name.
			unnamed[i].DebitAccountID, unnamed[i].CreditAccountID = model.Uint128{}, model.Uint128{}
		}
	}
	if got := resolve(cleared, unnamed, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("without accounts:\n got %+v\nwant %+v", got, want)
	}
	if cleared.f.ledger.Digest() != lookups.f.ledger.Digest() {
		t.Fatal("without accounts: the ledgers differ")
	}
	statuses := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusPendingTransferHasDifferentDebitID, model.StatusOK,
		model.StatusPendingTransferNotFound, model.StatusPendingTransferAlreadyPosted,
		model.StatusOK}
	for i := range want {
		if want[i].Status != statuses[i] {
			t.Errorf("event %d: %s, want %s", i, want[i].Status, statuses[i])
		}
	}
}

// CreateSagaCredits hides a created credit's CreditAccount balances from a reader who may
// not read the account, as AccountAs(reader, model.ScopeRead) answers, and shows them to
// its owner; the batch's own actor (the system) is unchanged by the check. Method: two
// credits into an account client 7 created, one read for 7 and one for 8.
func TestSagaCreditsHideBalancesFromNonReaders(t *testing.T) {
	f, settlement := sagaFixture(t)
	owned := model.U128(70)
	results := make([]model.EventResult, 1)
	f.ledger.CreateAccountsAs(7, f.timestamp, []model.Account{{ID: owned, Ledger: 1, Code: 1,
		Flags: model.AccountDebitsMustNotExceedCredits}},
		results)
	f.timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("account of client 7: %s", results[0].Status)
	}
	id := func(n uint64) model.Uint128 { return model.Uint128{Lo: n, Hi: 1<<63 | 0x73<<48 | 2<<40} }
	events := []model.Transfer{
		{ID: id(1), DebitAccountID: settlement, CreditAccountID: owned, Amount: model.U128(3),
			Ledger: 1, Code: 1},
		{ID: id(2), DebitAccountID: settlement, CreditAccountID: owned, Amount: model.U128(4),
			Ledger: 1, Code: 1},
	}
	credits := make([]model.TransferResult, 2)
	f.ledger.CreateSagaCredits(f.timestamp, events, []uint64{7, 8}, credits)
	for i, reader := range []uint64{7, 8} {
		if credits[i].Status != model.StatusOK {
			t.Fatalf("credit %d: %s", i, credits[i].Status)
		}
		_, found, readable := f.ledger.AccountAs(reader, model.ScopeRead, owned)
		if !found {
			t.Fatal("account 70 missing")
		}
		hidden := credits[i].CreditAccount == model.Balance{}
		if hidden == readable {
			t.Fatalf("credit %d for client %d: balances %+v, readable %t", i, reader,
				credits[i].CreditAccount, readable)
		}
		if credits[i].DebitAccount == (model.Balance{}) {
			t.Fatalf("credit %d: the settlement account's balances are hidden", i)
		}
	}
	if credits[0].CreditAccount.CreditsPosted != model.U128(3) {
		t.Fatalf("owner's view: %+v", credits[0].CreditAccount)
	}
}
