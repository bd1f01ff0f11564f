package ledger

import (
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// TestTransferEventsCarryBothBalances checks what each transfer event records (kind,
// transfer, and the debit and credit accounts' balances right after it, in that order)
// for a created, a pending, a posted and an expired transfer: the hot path copies the
// balances field by field from the accounts (event.Buffer.AppendTransferIn,
// accountRecord.BalanceTo), so a field swapped or an account mixed up shows here.
func TestTransferEventsCarryBothBalances(t *testing.T) {
	f := newFixture(t)
	var buffer event.Buffer
	f.ledger.SetEvents(&buffer)
	want := func(kind event.Kind, id uint64, debit, credit uint64) {
		t.Helper()
		if buffer.Len() != 1 {
			t.Fatalf("%d events, want 1", buffer.Len())
		}
		e := buffer.Events[0]
		got := buffer.Transfer(&e)
		if e.Kind != kind || got.Transfer.ID != model.U128(id) {
			t.Fatalf("event %v of transfer %s, want %v of %d", e.Kind, got.Transfer.ID, kind, id)
		}
		if got.Debit != f.balance(debit) || got.Credit != f.balance(credit) {
			t.Fatalf("transfer %d: balances %+v and %+v, want %+v and %+v", id, got.Debit,
				got.Credit, f.balance(debit), f.balance(credit))
		}
		buffer.Reset()
	}
	f.transfers(model.Transfer{ID: model.U128(100), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(7), Ledger: 1, Code: 1})
	want(event.KindTransferCreated, 100, 1, 2)
	f.transfers(model.Transfer{ID: model.U128(101), DebitAccountID: model.U128(2),
		CreditAccountID: model.U128(1), Amount: model.U128(5), Ledger: 1, Code: 1,
		Flags: model.TransferPending})
	want(event.KindTransferCreated, 101, 2, 1)
	f.transfers(model.Transfer{ID: model.U128(102), PendingID: model.U128(101),
		Amount: model.U128(3), Flags: model.TransferPostPending})
	want(event.KindTransferPosted, 102, 2, 1)
	f.transfers(model.Transfer{ID: model.U128(103), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(11), Ledger: 1, Code: 1,
		Flags: model.TransferPending, Timeout: 1})
	want(event.KindTransferCreated, 103, 1, 2)
	if expired := f.tick(2 * second); expired != 1 {
		t.Fatalf("%d transfers expired, want 1", expired)
	}
	want(event.KindTransferExpired, 103, 1, 2)
}
