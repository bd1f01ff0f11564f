package ledger

import (
	"fmt"
	"sort"

	"sequent/core/model"
)

// CheckInvariants verifies the double-entry invariants over a set of accounts: for every
// ledger, the sum of debits posted equals the sum of credits posted and the sum of debits
// pending equals the sum of credits pending; every account respects its balance flags. It
// is what tests, restore and the bench's final check rely on. Sums are kept in 256 bits
// (two Uint128 words with carry) so they cannot overflow.
func CheckInvariants(accounts func(yield func(*model.Account) bool)) error {
	type sums struct{ debitsPosted, creditsPosted, debitsPending, creditsPending wide }
	perLedger := map[uint32]*sums{}
	var err error
	accounts(func(a *model.Account) bool {
		s := perLedger[a.Ledger]
		if s == nil {
			s = &sums{}
			perLedger[a.Ledger] = s
		}
		s.debitsPosted.add(a.DebitsPosted)
		s.creditsPosted.add(a.CreditsPosted)
		s.debitsPending.add(a.DebitsPending)
		s.creditsPending.add(a.CreditsPending)
		err = checkAccountLimits(a)
		return err == nil
	})
	if err != nil {
		return err
	}
	ledgers := make([]uint32, 0, len(perLedger))
	for ledger := range perLedger {
		ledgers = append(ledgers, ledger)
	}
	sort.Slice(ledgers, func(i, j int) bool { return ledgers[i] < ledgers[j] })
	for _, ledger := range ledgers {
		s := perLedger[ledger]
		if s.debitsPosted != s.creditsPosted {
			return fmt.Errorf("ledger %d: debits posted %s != credits posted %s", ledger,
				s.debitsPosted, s.creditsPosted)
		}
		if s.debitsPending != s.creditsPending {
			return fmt.Errorf("ledger %d: debits pending %s != credits pending %s", ledger,
				s.debitsPending, s.creditsPending)
		}
	}
	return nil
}

func checkAccountLimits(a *model.Account) error {
	debits, overflowDebits := a.DebitsPending.Add(a.DebitsPosted)
	credits, overflowCredits := a.CreditsPending.Add(a.CreditsPosted)
	switch {
	case overflowDebits || overflowCredits:
		return fmt.Errorf("account %s: pending + posted overflows", a.ID)
	case a.Flags&model.AccountDebitsMustNotExceedCredits != 0 && a.CreditsPosted.Less(debits):
		return fmt.Errorf("account %s: debits %s exceed credits posted %s", a.ID, debits,
			a.CreditsPosted)
	case a.Flags&model.AccountCreditsMustNotExceedDebits != 0 && a.DebitsPosted.Less(credits):
		return fmt.Errorf("account %s: credits %s exceed debits posted %s", a.ID, credits,
			a.DebitsPosted)
	}
	return nil
}

// wide is a 256-bit unsigned sum.
type wide struct{ low, high model.Uint128 }

func (w *wide) add(x model.Uint128) {
	sum, carry := w.low.Add(x)
	w.low = sum
	if carry {
		w.high = w.high.MustAdd(model.U128(1))
	}
}

func (w wide) String() string {
	if w.high.IsZero() {
		return w.low.String()
	}
	return fmt.Sprintf("%s*2^128+%s", w.high, w.low)
}
