package ledger

import (
	"testing"

	"sequent/core/model"
)

// holdStatusReference is the order PROTOCOL.md section 12 documents for a hold (a
// reservation), written out check by check: with the issuing check on, a client's hold
// whose debits pending + posted + amount (counted in 129 bits) exceed the paying
// account's credits posted, on an account with debits_must_not_exceed_credits or one the
// client may not issue from, is exceeds_credits first; then the closed accounts, the
// overflows (checkAmountReference), and the flag's limit.
func holdStatusReference(checked bool, client uint64, may bool, amount model.Uint128,
	debit, credit *model.Account) model.Status {
	limited := debit.Flags&model.AccountDebitsMustNotExceedCredits != 0
	if checked && client != 0 && (limited || !may) {
		debits, carry1 := debit.DebitsPending.Add(debit.DebitsPosted)
		debits, carry2 := debits.Add(amount)
		if carry1 || carry2 || debit.CreditsPosted.Less(debits) {
			return model.StatusExceedsCredits
		}
	}
	switch {
	case debit.Flags&model.AccountClosed != 0:
		return model.StatusDebitAccountAlreadyClosed
	case credit.Flags&model.AccountClosed != 0:
		return model.StatusCreditAccountAlreadyClosed
	}
	if status := checkAmountReference(amount, true, debit, credit); status != model.StatusOK {
		return status
	}
	if limited && debit.CreditsPosted.Less(
		debit.DebitsPending.MustAdd(debit.DebitsPosted).MustAdd(amount)) {
		return model.StatusExceedsCredits
	}
	return model.StatusOK
}

// TestHoldRefusalMatchesReferenceAtEdges (reviewp42, a guard: it passes on main) runs a
// reservation on every combination of edge values of the amount and of the four
// balances the checks read (those whose pending + posted fits on each side, the
// ledger's invariant), for the system and for two clients (carol, with a transfer grant
// on the paying account, and bob, without), on a paying account with and without
// debits_must_not_exceed_credits and with either account closed, with the issuing check
// off and on, through both of the engine's paths; each answer must be the documented
// one (holdStatusReference), and an accepted hold must add the amount to both pending
// sides and to the reserved total, a refused one change nothing. It pins the carries of
// clientHoldRefused at 2^128 and that dropping reservationIssues lost no refusal.
func TestHoldRefusalMatchesReferenceAtEdges(t *testing.T) {
	values := []model.Uint128{{}, {Lo: 1}, {Hi: 1}, {Hi: 1 << 63},
		{Hi: ^uint64(0), Lo: ^uint64(0) - 1}, {Hi: ^uint64(0), Lo: ^uint64(0)}}
	clients := []struct {
		id  uint64
		may bool
	}{{0, true}, {carol, true}, {bob, false}}
	flagSets := []struct{ debit, credit uint16 }{
		{0, 0}, {model.AccountDebitsMustNotExceedCredits, 0},
		{model.AccountClosed, 0}, {model.AccountDebitsMustNotExceedCredits | model.AccountClosed, 0},
		{0, model.AccountClosed}, {model.AccountDebitsMustNotExceedCredits, model.AccountClosed},
	}
	fits := func(a, b model.Uint128) bool { return !a.AddOverflows(b) }
	compared := 0
	for _, checked := range []bool{false, true} {
		for _, direct := range []bool{false, true} {
			l := New(Config{HashSeed: 5})
			grant := model.Grant{Client: carol, Scopes: model.ScopeTransfer, Ledger: 1,
				First: model.U128(1), Last: model.U128(1)}
			if err := l.SetGrants([]model.Grant{grant}); err != nil {
				t.Fatal(err)
			}
			l.SetIssuingChecked(checked)
			timestamp := uint64(1_000 * second)
			results := make([]model.EventResult, 2)
			l.CreateAccounts(timestamp, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
				{ID: model.U128(2), Ledger: 1, Code: 1}}, results)
			timestamp += 2
			for i := range results {
				if results[i].Status != model.StatusOK {
					t.Fatalf("account %d: %s", i, results[i].Status)
				}
			}
			debitIndex, _ := l.findAccount(model.U128(1))
			creditIndex, _ := l.findAccount(model.U128(2))
			for _, debitsPending := range values {
				for _, debitsPosted := range values {
					if !fits(debitsPending, debitsPosted) {
						continue
					}
					for _, creditsPosted := range values {
						for _, creditsPending := range values {
							for _, amount := range values {
								for _, flags := range flagSets {
									for _, client := range clients {
										debit, credit := l.accounts.at(debitIndex), l.accounts.at(creditIndex)
										*debit = newAccountRecord(&model.Account{ID: debit.ID, Ledger: 1,
											Code: 1, Flags: flags.debit, DebitsPending: debitsPending,
											DebitsPosted: debitsPosted, CreditsPosted: creditsPosted})
										*credit = newAccountRecord(&model.Account{ID: credit.ID,
											Ledger: 1, Code: 1, Flags: flags.credit,
											CreditsPending: creditsPending})
										l.reserved.set(debitIndex, model.Uint128{})
										before, creditBefore := exportAccount(debit), exportAccount(credit)
										want := holdStatusReference(checked, client.id, client.may,
											amount, &before, &creditBefore)
										event := model.Transfer{DebitAccountID: model.U128(1),
											CreditAccountID: model.U128(2), Amount: amount, Ledger: 1,
											Flags: SystemReserve}
										ReserveFor(&event, client.id)
										status := reserveOnce(l, timestamp, event, direct)
										timestamp++
										compared++
										if status != want {
											t.Fatalf("checked %v direct %v client %d flags %+v amount %s "+
												"debit %+v credit %+v: %s, want %s", checked, direct,
												client.id, flags, amount, before, creditBefore, status, want)
										}
										debit, credit = l.accounts.at(debitIndex), l.accounts.at(creditIndex)
										wantDebit, wantCredit := before, creditBefore
										wantReserved := model.Uint128{}
										if want == model.StatusOK {
											wantDebit.DebitsPending = wantDebit.DebitsPending.MustAdd(amount)
											wantCredit.CreditsPending = wantCredit.CreditsPending.MustAdd(amount)
											wantReserved = amount
										}
										if exportAccount(debit) != wantDebit ||
											exportAccount(credit) != wantCredit ||
											l.reserved.get(debitIndex) != wantReserved {
											t.Fatalf("checked %v direct %v client %d flags %+v amount %s: "+
												"%s left debit %+v credit %+v reserved %s", checked, direct,
												client.id, flags, amount, status, exportAccount(debit),
												exportAccount(credit),
												l.reserved.get(debitIndex))
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d reservations compared", compared)
	if compared == 0 {
		t.Fatal("nothing compared")
	}
}
