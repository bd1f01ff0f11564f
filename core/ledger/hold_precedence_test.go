package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestUnaffordableClientHoldIsRefusedFirst: with SetIssuingChecked (rules version 6
// on), a reservation for a client (ReserveFor) that its debit account cannot cover
// (debits and the amount above the credits posted) and that the client may not make
// (the account has debits_must_not_exceed_credits, or lacks it and the client has no
// right to issue there) is refused exceeds_credits before the closed checks and the
// overflow checks, the order of PROTOCOL.md section 12 for an order's hold
// (insufficient_funds, account_closed, hold_amount_overflow). The escrow, account 4,
// first takes nearly 2^128 of the system's reservations, so an overflow of its
// credits_pending would otherwise answer (a figure made of other clients' holds), and
// account 5, whose credits are 100, then owes so much that 100 more overflows. The
// same reservations for the system (client 0) keep the old order, and without the check
// (a log written before it) every answer is the old one. Through both of the engine's
// paths (a batch, and ChangeSystemReservationAt), which must agree.
func TestUnaffordableClientHoldIsRefusedFirst(t *testing.T) {
	limited := model.AccountDebitsMustNotExceedCredits
	accounts := []model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1, Flags: limited},
		{ID: model.U128(2), Ledger: 1, Code: 1}, // Alice may not issue here (no grant).
		{ID: model.U128(3), Ledger: 1, Code: 1, Flags: limited | model.AccountClosed},
		{ID: model.U128(4), Ledger: 1, Code: 1},                             // The escrow.
		{ID: model.U128(5), Ledger: 1, Code: 1},                             // The system's payer into the escrow.
		{ID: model.U128(6), Ledger: 1, Code: 1, Flags: model.AccountClosed}, // An escrow.
	}
	nearMax := model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0) - 10}
	steps := []struct {
		name            string
		client          uint64
		debit, credit   uint64
		amount          model.Uint128
		checked, before model.Status // With the check; without it.
	}{
		{"the system fills the escrow", 0, 5, 4, nearMax, model.StatusOK, model.StatusOK},
		{"alice, limited, beyond her credits", alice, 1, 4, model.U128(100),
			model.StatusExceedsCredits, model.StatusOverflowsCreditsPending},
		{"alice, unlimited without the right", alice, 2, 4, model.U128(100),
			model.StatusExceedsCredits, model.StatusOverflowsCreditsPending},
		{"the system from the unlimited one", 0, 2, 4, model.U128(100),
			model.StatusOverflowsCreditsPending, model.StatusOverflowsCreditsPending},
		{"alice, a closed limited account", alice, 3, 6, model.U128(100),
			model.StatusExceedsCredits, model.StatusDebitAccountAlreadyClosed},
		{"alice, into a closed escrow", alice, 1, 6, model.U128(100),
			model.StatusExceedsCredits, model.StatusCreditAccountAlreadyClosed},
		// Account 5's debits (nearly 2^128) and 100 wrap around to 89, below its credits
		// of 100: an overflow of the debits is unaffordable, not a small sum.
		{"alice, debits overflowing (ungranted)", alice, 5, 6, model.U128(100),
			model.StatusExceedsCredits, model.StatusCreditAccountAlreadyClosed},
		{"the system into a closed escrow", 0, 2, 6, model.U128(100),
			model.StatusCreditAccountAlreadyClosed, model.StatusCreditAccountAlreadyClosed},
		{"alice within her credits (none): nothing", alice, 1, 4, model.Uint128{},
			model.StatusOK, model.StatusOK},
	}
	for _, checked := range []bool{false, true} {
		for _, direct := range []bool{false, true} {
			l := New(Config{HashSeed: 3})
			l.SetIssuingChecked(checked)
			timestamp := uint64(1_000 * second)
			results := make([]model.EventResult, len(accounts))
			l.CreateAccounts(timestamp, accounts, results)
			timestamp += uint64(len(accounts))
			for i := range results {
				if results[i].Status != model.StatusOK {
					t.Fatalf("account %d: %s", i, results[i].Status)
				}
			}
			transferResults := make([]model.TransferResult, 1)
			l.CreateTransfers(timestamp, []model.Transfer{{ID: model.U128(50),
				DebitAccountID: model.U128(2), CreditAccountID: model.U128(5),
				Amount: model.U128(100), Ledger: 1, Code: 1}}, transferResults)
			timestamp++
			if transferResults[0].Status != model.StatusOK {
				t.Fatalf("funding: %s", transferResults[0].Status)
			}
			for _, step := range steps {
				event := model.Transfer{DebitAccountID: model.U128(step.debit),
					CreditAccountID: model.U128(step.credit), Amount: step.amount, Ledger: 1,
					Flags: SystemReserve}
				ReserveFor(&event, step.client)
				status := reserveOnce(l, timestamp, event, direct)
				timestamp++
				want := step.before
				if checked {
					want = step.checked
				}
				if status != want {
					t.Errorf("checked %v, direct %v: %s: %s, want %s", checked, direct,
						step.name, status, want)
				}
			}
			if err := l.CheckReservations(); err != nil {
				t.Errorf("checked %v, direct %v: %v", checked, direct, err)
			}
		}
	}
}
