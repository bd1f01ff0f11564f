package reconcile

import (
	"testing"

	"sequent/core/model"
)

// TestReviewHN49CurrencyOnlyLineDoesNotTakeAStatusLinesPayment: hunt49 paired lines by
// how many optional fields they state (currency and status: 2, then 1, then 0), but a
// stated currency narrows nothing (every payment is on the account's ledger, so a line
// stating that currency agrees with all of them): only a status does. Under one
// reference a JSON-lines statement has a line of 5 stating its currency (USD) but no
// status, then a line of 5 "posted" without a currency; we have a posted payment of 5 and
// a voided one. Both lines state one field, so they paired in line order: the currency
// line took the posted payment and the posted line, left with the voided one, was
// reported a status difference for a statement that matches (the case hunt49 fixed,
// with a currency added to the first line).
func TestReviewHN49CurrencyOnlyLineDoesNotTakeAStatusLinesPayment(t *testing.T) {
	currencyLine := entry{key: model.U128(9), order: 2, amount: model.U128(5),
		side: sideCredit, ledger: 1}
	statusLine := entry{key: model.U128(9), order: 3, amount: model.U128(5),
		side: sideCredit, status: statusPosted}
	posted := entry{key: model.U128(9), order: 100, origin: model.U128(100),
		amount: model.U128(5), side: sideCredit, ledger: 1, kind: kindSingle}
	pending := entry{key: model.U128(9), order: 101, origin: model.U128(101),
		amount: model.U128(5), side: sideCredit, ledger: 1, kind: kindPending}
	void := pending
	void.order, void.kind = 102, kindVoid
	got, summary := decideOne(t, model.U128(9), []entry{currencyLine, statusLine},
		[]entry{posted, pending, void})
	if len(got) != 0 || summary.Matched != 2 {
		t.Errorf("differences %v, matched %d; want none, 2 matched", got, summary.Matched)
	}
}
