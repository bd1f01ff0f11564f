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
