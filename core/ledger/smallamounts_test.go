package ledger

import (
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestSmallAmountsImplyCheckAmountOK covers the shortcut that lets a created transfer
// skip checkAmount and checkDebitSide: whenever smallAmounts accepts an amount and the
// balances, both must answer StatusOK (pending or not, for a debit account without the
// limit flag, which still calls checkDebitSide), or the shortcut would create a transfer
// that overflows a balance. The largest accepted values (every high word 2^62-1, every low
// word full) are the tightest case; one high word of 2^62 must be refused.
func TestSmallAmountsImplyCheckAmountOK(t *testing.T) {
	largest := model.Uint128{Lo: ^uint64(0), Hi: smallAmountHighWordLimit - 1}
	tooLarge := model.Uint128{Hi: smallAmountHighWordLimit}
	accounts := func(debitPending, debitPosted, creditPending, creditPosted model.Uint128) (
		*accountRecord, *accountRecord) {
		return &accountRecord{DebitsPending: debitPending, DebitsPosted: debitPosted},
			&accountRecord{CreditsPending: creditPending, CreditsPosted: creditPosted}
	}
	check := func(amount model.Uint128, debit, credit *accountRecord) {
		t.Helper()
		if !smallAmounts(amount, debit, credit) {
			return
		}
		for _, pending := range []bool{false, true} {
			status := checkAmount(amount, pending, debit, credit)
			if debitStatus := checkDebitSide(amount, pending, debit); status == model.StatusOK {
				status = debitStatus
			}
			if status != model.StatusOK {
				t.Fatalf("smallAmounts accepted amount %s, debits %s + %s, credits %s + %s; "+
					"checkAmount or checkDebitSide (pending %v) answers %s", amount,
					debit.DebitsPending, debit.DebitsPosted, credit.CreditsPending,
					credit.CreditsPosted, pending, status)
			}
		}
	}
	debit, credit := accounts(largest, largest, largest, largest)
	if !smallAmounts(largest, debit, credit) {
		t.Fatal("smallAmounts refused values just below 2^126")
	}
	check(largest, debit, credit)
	values := [5]model.Uint128{largest, largest, largest, largest, largest}
	for i := range values {
		values[i] = tooLarge
		debit, credit := accounts(values[1], values[2], values[3], values[4])
		if smallAmounts(values[0], debit, credit) {
			t.Fatalf("smallAmounts accepted 2^126 as value %d", i)
		}
		values[i] = largest
	}
	// Random values of every magnitude: each high word is drawn below 2^(bits) for a
	// random number of bits up to 63, so that both answers of smallAmounts occur.
	random := rand.New(rand.NewPCG(15, 2))
	draw := func() model.Uint128 {
		return model.Uint128{Lo: random.Uint64(), Hi: random.Uint64() >> random.UintN(64)}
	}
	for range 100_000 {
		debit, credit := accounts(draw(), draw(), draw(), draw())
		check(draw(), debit, credit)
	}
}

// TestClientDebitSideBeforeTimeout pins where the shortcut of smallAmounts still calls
// checkDebitSide: a client's pending transfer that both exceeds its debit account's
// credits and has a deadline past the largest timestamp is told exceeds_credits (its own
// side, checked first), where the system and operators, whose order checks the timeout
// before the limits, are told overflows_timeout. The amounts are small, so only the
// debit account's limit flag makes the client's path call checkDebitSide.
func TestClientDebitSideBeforeTimeout(t *testing.T) {
	f := ownershipFixture(t)
	f.timestamp = timestampMax - 10*second
	beyondCredits := pending(160, 1, 3, 5000, 11) // Account 1 holds 1000.
	f.as(alice, model.StatusExceedsCredits, beyondCredits)
	beyondCredits.ID = model.U128(161)
	f.as(olivia, model.StatusOverflowsTimeout, beyondCredits)
	beyondCredits.ID = model.U128(162)
	f.expect(model.StatusOverflowsTimeout, beyondCredits)
}
