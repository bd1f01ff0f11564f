package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// Review of hunt46a (rules version 10, saga.SetHeadroomBound). The headroom of a sweep
// (a cross-shard balancing_credit transfer naming 2^128-1 from a payer that may issue
// money) must see the reserves of the sweeps before it in the same request: consecutive
// cross-shard transfers go to saga.StartRun as one run. Computed from the ledger before
// the run, two adjacent sweeps each reserved half of the same room, so together they took
// all of it, and the payer's next debit in the request (a third sweep, or a local
// transfer of 5) was refused overflows_debits where one shard moves each (balances here
// are tens, far from 2^127: PROTOCOL.md section 18 says only sums near 2^127 differ).
func TestReviewha46AdjacentSweepsLeaveThePayersOtherDebits(t *testing.T) {
	sweep := func(id, payee uint64) model.Transfer {
		transfer := simpleTransfer(id, 1, payee, 0)
		transfer.Amount, transfer.Flags = model.Uint128Max, model.TransferBalancingCredit
		return transfer
	}
	for _, test := range []struct {
		name  string
		batch []model.Transfer
		want  []model.Status
		payer uint64 // The payer's debits posted at the end: what one shard moves.
	}{
		{"three sweeps", []model.Transfer{sweep(4, 100), sweep(5, 102), sweep(6, 103)},
			[]model.Status{model.StatusSagaInFlight, model.StatusSagaInFlight,
				model.StatusSagaInFlight}, 10 + 50 + 7 + 3},
		{"two sweeps then a local debit", []model.Transfer{sweep(4, 100), sweep(5, 102),
			simpleTransfer(6, 1, 2, 5)}, []model.Status{model.StatusSagaInFlight,
			model.StatusSagaInFlight, model.StatusOK}, 10 + 50 + 7 + 5},
	} {
		t.Run(test.name, func(t *testing.T) {
			p := newPair(t)
			p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0, 102: 0, 103: 0})
			for _, setup := range []model.Transfer{simpleTransfer(1, 1, 2, 10),
				simpleTransfer(2, 100, 101, 50), simpleTransfer(3, 102, 101, 7),
				simpleTransfer(7, 103, 101, 3)} {
				if got, _ := p.crossFinal(setup); got.Status != model.StatusOK {
					t.Fatalf("setup %s: %s", setup.ID, got.Status)
				}
			}
			out := p.client(0, model.OperationCreateTransfers, 0, transfersBody(test.batch...))
			statuses := eventStatuses(t, out.Body(&out.Replies[0]))
			for i := range test.want {
				if statuses[i] != test.want[i] {
					t.Fatalf("request: %v, want %v", statuses, test.want)
				}
			}
			for _, finished := range p.settle(append([]saga.Message(nil), out.Messages...)) {
				if final := finished.Finished.Result; final.Status != model.StatusOK {
					t.Fatalf("sweep %s: %s", finished.Finished.ID, final.Status)
				}
			}
			if payer := p.account(1); payer.DebitsPosted != model.U128(test.payer) ||
				!payer.DebitsPending.IsZero() {
				t.Fatalf("payer: %+v, want %d debited", payer.Balance(), test.payer)
			}
		})
	}
}

// The headroom counts the settlement account's credits too, not only the payer's debits:
// a sweep from a payer with no debits, while another payer's sweep holds half of what
// S(0→1)'s credits could take, reserves half of what is left of S's room, and both move
// as on one shard. With the settlement account's part of Book.headroom dropped (the
// hunt's tests still passed), the second reserve overflowed S's credits.
func TestReviewha46SweepHeadroomCountsTheSettlementAccount(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 3: 0, 100: 0, 101: 0, 102: 0})
	for _, setup := range []model.Transfer{simpleTransfer(1, 1, 2, 10),
		simpleTransfer(2, 100, 101, 50), simpleTransfer(3, 102, 101, 7),
		simpleTransfer(7, 2, 101, 100)} { // S(0→1) carried 100.
		if got, _ := p.crossFinal(setup); got.Status != model.StatusOK {
			t.Fatalf("setup %s: %s", setup.ID, got.Status)
		}
	}
	sweep := func(id, payer, payee uint64) model.Transfer {
		transfer := simpleTransfer(id, payer, payee, 0)
		transfer.Amount, transfer.Flags = model.Uint128Max, model.TransferBalancingCredit
		return transfer
	}
	out := p.client(0, model.OperationCreateTransfers, 0,
		transfersBody(sweep(4, 1, 100), sweep(5, 3, 102)))
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	if statuses[0] != model.StatusSagaInFlight || statuses[1] != model.StatusSagaInFlight {
		t.Fatalf("request: %v", statuses)
	}
	for _, finished := range p.settle(append([]saga.Message(nil), out.Messages...)) {
		if final := finished.Finished.Result; final.Status != model.StatusOK {
			t.Fatalf("sweep %s: %s", finished.Finished.ID, final.Status)
		}
	}
	if p.account(100).CreditsPosted != model.U128(50) || p.account(102).CreditsPosted != model.U128(7) {
		t.Fatalf("payees credited %s and %s, want 50 and 7", p.account(100).CreditsPosted,
			p.account(102).CreditsPosted)
	}
	if net, pending := p.settlementNet(); net != 0 || pending != 0 {
		t.Fatalf("settlement 0→1 nets %d, %d pending", net, pending)
	}
}
