package risk_test

import (
	"testing"

	"sequent/core/model"
)

// TestHunt49bLedgerDailyRefusalHidesOtherClientsVolume: a ledger-scope daily_amount rule
// counts every client's transfers on the ledger. Its refusal's RiskDetail.current was
// that whole total, so a client that sent one transfer above the limit (refused before
// any balance check: nothing moved, no funds needed) read how much every other client
// had moved on the ledger that day, and two such probes around another client's payment
// gave that payment's amount exactly. With SetLedgerTotalHidden (rules version 11) a
// client without the operator scope reads 0 there (the limit and until stay); an
// operator still reads the total. Client other (account 9) probes around sender's
// payment of 12,345.
func TestHunt49bLedgerDailyRefusalHidesOtherClientsVolume(t *testing.T) {
	h := newHarness(t)
	h.ledger.SetLedgerTotalHidden(true)
	h.set(model.RiskRule{ID: 1, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: u(1_000_000)})
	probe := func(client uint64, debit uint64) model.RiskDetail {
		t.Helper()
		result := h.send(client, model.Transfer{DebitAccountID: u(debit), CreditAccountID: u(1),
			Amount: u(2_000_000)})[0]
		h.expect(result, model.StatusRiskLedgerDailyAmount, 1)
		if result.Risk.Limit != u(1_000_000) || result.Risk.Until == 0 {
			t.Fatalf("client %d: detail %+v, want the limit and the day's end", client, result.Risk)
		}
		return result.Risk
	}
	before := probe(other, 9)
	h.expect(h.pay(1, 2, 12_345), model.StatusOK, 0) // Sender's own business.
	after := probe(other, 9)
	if leaked, _ := after.Current.Sub(before.Current); !leaked.IsZero() || !after.Current.IsZero() {
		t.Fatalf("client %d read the ledger's day (%s, then %s) and so client %d's payment "+
			"of %s: a ledger-wide total is other clients' data", other, before.Current,
			after.Current, sender, leaked)
	}
	if total := probe(operator, 9).Current; total != u(12_345) {
		t.Fatalf("the operator reads a day's total of %s, want 12345", total)
	}
}
