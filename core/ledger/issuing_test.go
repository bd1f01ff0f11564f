package ledger

import (
	"testing"

	"sequent/core/model"
)

// TestIssuingNeedsTheRight: with SetIssuingChecked (package core, rules version 6 on),
// alice's debit from her account 1, which has no debits_must_not_exceed_credits and was
// created under a transfer grant withdrawn since, is refused exceeds_credits when it
// would take the account's debits above its credits, in the place the flag's code has:
// after the debit side's overflow codes (an amount beyond 2^126 takes checkDebitSide's
// path, not the small amounts' one). The system still debits it; a debit within the
// credits passes; without the check (a log written before it) alice issues as before.
func TestIssuingNeedsTheRight(t *testing.T) {
	for _, checked := range []bool{false, true} {
		l := New(Config{HashSeed: 3})
		grant := model.Grant{Client: alice, Scopes: model.ScopeTransfer, Ledger: 1,
			First: model.U128(1), Last: model.U128(1)}
		if err := l.SetGrants([]model.Grant{grant}); err != nil {
			t.Fatal(err)
		}
		l.SetIssuingChecked(checked)
		timestamp := uint64(1_000 * second)
		accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1}, clientAccount(2)}
		accountResults := make([]model.EventResult, len(accounts))
		l.CreateAccountsAs(alice, timestamp, accounts, accountResults)
		timestamp += uint64(len(accounts))
		for i := range accountResults {
			if accountResults[i].Status != model.StatusOK {
				t.Fatalf("account %d: %s", i, accountResults[i].Status)
			}
		}
		if err := l.SetGrants(nil); err != nil {
			t.Fatal(err)
		}
		huge := model.Uint128{Hi: 1 << 63} // 2^127: not a small amount.
		nearMax := model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0) - 20}
		systemAccount := []model.Account{{ID: model.U128(3), Ledger: 1, Code: 1}}
		l.CreateAccounts(timestamp, systemAccount, accountResults[:1])
		timestamp++
		steps := []struct {
			name          string
			client        uint64
			debit, credit uint64
			amount        model.Uint128
			want          model.Status // With the check; without it, ok for exceeds_credits.
		}{
			{"the system pays 15 into account 1", 0, 3, 1, model.U128(15), model.StatusOK},
			{"alice within the credits", alice, 1, 2, model.U128(10), model.StatusOK},
			{"alice issues 1 (16 of 15)", alice, 1, 2, model.U128(6), model.StatusExceedsCredits},
			{"alice issues 2^127", alice, 1, 2, huge, model.StatusExceedsCredits},
			{"the system issues 2^127-100 from account 1", 0, 1, 3,
				model.Uint128{Hi: 1<<63 - 1, Lo: ^uint64(0) - 99}, model.StatusOK},
			{"alice overflows the debits first", alice, 1, 2, nearMax,
				model.StatusOverflowsDebitsPosted},
		}
		for i, step := range steps {
			transfer := model.Transfer{ID: model.U128(uint64(100 + i)),
				DebitAccountID: model.U128(step.debit), CreditAccountID: model.U128(step.credit),
				Amount: step.amount, Ledger: 1, Code: 1}
			results := make([]model.TransferResult, 1)
			l.CreateTransfersAs(step.client, false, timestamp, []model.Transfer{transfer}, results)
			timestamp++
			want := step.want
			if !checked && want == model.StatusExceedsCredits {
				want = model.StatusOK
			}
			if results[0].Status != want {
				t.Errorf("checked %v: %s: %s, want %s", checked, step.name, results[0].Status, want)
			}
		}
	}
}

// TestReservationForAClientNeedsTheRight: the matching engine's reservation made for a
// client (ReserveFor: an order's hold, or a replace's growth of one) is judged as the
// client's own debit would be. Alice's account 1 has no debits_must_not_exceed_credits
// and her grant over it was withdrawn; the system paid 15 into it. With
// SetIssuingChecked, a reservation for alice of 10 passes; one of 6 more (16 of 15) is
// refused exceeds_credits; the same 6 for the system (client 0: the engine's own moves)
// passes; for alice, an amount that overflows the debits is one she cannot afford, so
// exceeds_credits (PROTOCOL.md section 12: insufficient_funds before
// hold_amount_overflow), where without the check it is overflows_debits_pending as
// before; a release is never refused. Without the check (a log written before it) every
// reservation for alice within the 128 bits passes. Through both of the
// engine's paths (a batch, and the direct ChangeSystemReservationAt), which must agree.
func TestReservationForAClientNeedsTheRight(t *testing.T) {
	for _, checked := range []bool{false, true} {
		for _, direct := range []bool{false, true} {
			l := New(Config{HashSeed: 3})
			grant := model.Grant{Client: alice, Scopes: model.ScopeTransfer, Ledger: 1,
				First: model.U128(1), Last: model.U128(1)}
			if err := l.SetGrants([]model.Grant{grant}); err != nil {
				t.Fatal(err)
			}
			l.SetIssuingChecked(checked)
			timestamp := uint64(1_000 * second)
			results := make([]model.EventResult, 2)
			l.CreateAccountsAs(alice, timestamp, []model.Account{{ID: model.U128(1), Ledger: 1,
				Code: 1}}, results[:1])
			l.CreateAccounts(timestamp+1, []model.Account{{ID: model.U128(3), Ledger: 1,
				Code: 1}, {ID: model.U128(4), Ledger: 1, Code: 1}}, results)
			timestamp += 3
			for i := range results {
				if results[i].Status != model.StatusOK {
					t.Fatalf("account %d: %s", i, results[i].Status)
				}
			}
			if err := l.SetGrants(nil); err != nil {
				t.Fatal(err)
			}
			transferResults := make([]model.TransferResult, 1)
			l.CreateTransfers(timestamp, []model.Transfer{{ID: model.U128(50),
				DebitAccountID: model.U128(3), CreditAccountID: model.U128(1),
				Amount: model.U128(15), Ledger: 1, Code: 1}}, transferResults)
			timestamp++
			if transferResults[0].Status != model.StatusOK {
				t.Fatalf("funding: %s", transferResults[0].Status)
			}
			escrow := model.U128(4)
			nearMax := model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0) - 10} // 16 + it overflows.
			// Released at the end: 10 and the system's 6.
			reserved := uint64(16)
			if !checked {
				reserved = 22 // And alice's 6, not refused.
			}
			steps := []struct {
				name   string
				client uint64
				flag   uint16
				amount model.Uint128
				want   model.Status // With the check; without it, ok for exceeds_credits.
			}{
				{"for alice within the credits", alice, SystemReserve, model.U128(10), model.StatusOK},
				{"for alice 6 more (16 of 15)", alice, SystemReserve, model.U128(6),
					model.StatusExceedsCredits},
				{"for the system 6 more", 0, SystemReserve, model.U128(6), model.StatusOK},
				{"for alice an overflow", alice, SystemReserve, nearMax,
					model.StatusExceedsCredits},
				{"a release for alice", alice, SystemRelease, model.U128(reserved),
					model.StatusOK},
			}
			for _, step := range steps {
				event := model.Transfer{DebitAccountID: model.U128(1), CreditAccountID: escrow,
					Amount: step.amount, Ledger: 1, Flags: step.flag}
				ReserveFor(&event, step.client)
				status := reserveOnce(l, timestamp, event, direct)
				timestamp++
				want := step.want
				if !checked && want == model.StatusExceedsCredits {
					want = model.StatusOK
					if step.amount == nearMax {
						want = model.StatusOverflowsDebitsPending
					}
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

// reserveOnce applies one reservation event at timestamp through either of the engine's
// paths (direct: ChangeSystemReservationAt with both accounts looked up; else
// CreateSystemTransfers of a batch of that one event) and returns its status.
func reserveOnce(l *Ledger, timestamp uint64, event model.Transfer, direct bool) model.Status {
	if direct {
		debitIndex, creditIndex := IndexUnknown, IndexUnknown
		return l.ChangeSystemReservationAt(timestamp, &event, &debitIndex, &creditIndex)
	}
	results := make([]model.TransferResult, 1)
	l.CreateSystemTransfers(timestamp, []model.Transfer{event}, results)
	return results[0].Status
}
