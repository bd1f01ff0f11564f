package ledger

import (
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// TestClientsPlainTransfersEmitTheirEvents: a client's plain transfers (created by
// createdPlains, the common case) each emit their transfer_created event, in order, with
// the debit and credit accounts' balances right after that transfer, as every created
// transfer does, stamped the batch's first timestamp plus its index: the event stream
// (capture, replication's consumers) must not miss them.
func TestClientsPlainTransfersEmitTheirEvents(t *testing.T) {
	const client = 5
	l := New(Config{HashSeed: 50})
	if err := l.SetGrants([]model.Grant{{Client: client, Scopes: model.ScopeTransfer,
		Ledger: 1}}); err != nil {
		t.Fatal(err)
	}
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}
	accountResults := make([]model.EventResult, len(accounts))
	l.CreateAccounts(1, accounts, accountResults)
	for i, result := range accountResults {
		if result.Status != model.StatusOK {
			t.Fatalf("account %d: %v", i, result.Status)
		}
	}
	var buffer event.Buffer
	l.SetEvents(&buffer)
	transfers := []model.Transfer{
		{ID: model.U128(100), DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
			Amount: model.U128(7), Ledger: 1, Code: 1},
		{ID: model.U128(101), DebitAccountID: model.U128(2), CreditAccountID: model.U128(1),
			Amount: model.U128(3), Ledger: 1, Code: 1, Flags: model.TransferPending},
	}
	results := make([]model.TransferResult, len(transfers))
	l.CreateTransfersAs(client, false, 10, transfers, results)
	for i, result := range results {
		if result.Status != model.StatusOK || result.Timestamp != uint64(10+i) {
			t.Fatalf("transfer %d: %v at %d, want ok at %d (the batch's first timestamp "+
				"plus its index)", i, result.Status, result.Timestamp, 10+i)
		}
	}
	if buffer.Len() != len(transfers) {
		t.Fatalf("%d events for %d transfers created", buffer.Len(), len(transfers))
	}
	want := []struct {
		id            uint64
		debit, credit model.Balance
	}{
		{100, model.Balance{DebitsPosted: model.U128(7)}, model.Balance{CreditsPosted: model.U128(7)}},
		{101, model.Balance{DebitsPending: model.U128(3), CreditsPosted: model.U128(7)},
			model.Balance{CreditsPending: model.U128(3), DebitsPosted: model.U128(7)}},
	}
	for i, w := range want {
		e := buffer.Events[i]
		got := buffer.Transfer(&e)
		if e.Kind != event.KindTransferCreated || got.Transfer.ID != model.U128(w.id) ||
			got.Transfer.Timestamp != uint64(10+i) {
			t.Fatalf("event %d: %v of transfer %s at %d, want transfer_created of %d at %d",
				i, e.Kind, got.Transfer.ID, got.Transfer.Timestamp, w.id, 10+i)
		}
		if got.Debit != w.debit || got.Credit != w.credit {
			t.Errorf("transfer %d: balances %+v and %+v, want %+v and %+v", w.id, got.Debit,
				got.Credit, w.debit, w.credit)
		}
	}
}
