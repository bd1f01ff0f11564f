package risk_test

import (
	"testing"

	"sequent/core/model"
)

// step is one transfer of a table case: wait, then pay, then expect.
type step struct {
	wait    uint64 // Nanoseconds to advance before the transfer.
	client  uint64 // Sender (0: sender).
	debit   uint64
	credit  uint64
	amount  uint64
	ledger  uint32 // 0: 1.
	status  model.Status
	rule    uint32
	limit   uint64 // For a refusal: the detail's limit and current value.
	current uint64
}

// TestRuleBoundaries is a table test of every rule kind at its boundaries: one step below
// or at the limit passes, one beyond is refused with the rule's own status, the detail
// naming the rule, its limit and the value found; scopes and overrides change who is
// counted.
func TestRuleBoundaries(t *testing.T) {
	window := 4 * second // Buckets of one second.
	cases := []struct {
		name  string
		rules []model.RiskRule
		steps []step
	}{
		{"max amount, ledger scope: at the limit, above it",
			[]model.RiskRule{{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
				Ledger: 1, Amount: u(100)}},
			[]step{{debit: 1, credit: 2, amount: 100},
				{debit: 1, credit: 2, amount: 101, status: model.StatusRiskAmountAboveMaximum,
					rule: 1, limit: 100},
				{debit: 20, credit: 98, amount: 1000, ledger: 2}}}, // Another ledger.
		{"max amount, an account's own rule replaces its ledger's",
			[]model.RiskRule{{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
				Ledger: 1, Amount: u(100)},
				{ID: 2, Kind: model.RiskMaxAmount, Scope: model.RiskScopeAccount,
					Account: u(3), Amount: u(500)}},
			[]step{{debit: 3, credit: 2, amount: 500},
				{debit: 3, credit: 2, amount: 501, status: model.StatusRiskAmountAboveMaximum,
					rule: 2, limit: 500},
				{debit: 1, credit: 3, amount: 101, status: model.StatusRiskAmountAboveMaximum,
					rule: 1, limit: 100}}},
		{"max amount, client scope with a ledger filter",
			[]model.RiskRule{{ID: 5, Kind: model.RiskMaxAmount, Scope: model.RiskScopeClient,
				Client: sender, Ledger: 1, Amount: u(10)}},
			[]step{{debit: 1, credit: 2, amount: 10},
				{debit: 1, credit: 2, amount: 11, status: model.StatusRiskAmountAboveMaximum,
					rule: 5, limit: 10},
				{debit: 20, credit: 98, amount: 11, ledger: 2},
				{client: operator, debit: 1, credit: 2, amount: 11}}}, // Another client.
		{"velocity amount: the window sums, then slides by a bucket",
			[]model.RiskRule{{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger,
				Ledger: 1, WindowNs: window, Amount: u(100)}},
			[]step{{debit: 1, credit: 2, amount: 60},
				{wait: second, debit: 1, credit: 3, amount: 40},
				{debit: 1, credit: 3, amount: 1, status: model.StatusRiskAccountVelocityAmount,
					rule: 1, limit: 100, current: 100},
				{debit: 2, credit: 3, amount: 100},                  // Another account's own window.
				{wait: 3 * second, debit: 1, credit: 2, amount: 60}, // The 60 left the window.
				{debit: 1, credit: 2, amount: 1, status: model.StatusRiskAccountVelocityAmount,
					rule: 1, limit: 100, current: 100}}},
		{"velocity count",
			[]model.RiskRule{{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
				Account: u(1), WindowNs: window, Count: 2}},
			[]step{{debit: 1, credit: 2, amount: 5}, {debit: 1, credit: 2, amount: 5},
				{debit: 1, credit: 2, amount: 5, status: model.StatusRiskAccountVelocityCount,
					rule: 1, limit: 2, current: 2},
				{debit: 2, credit: 1, amount: 5}, // Credits do not count.
				{wait: window, debit: 1, credit: 2, amount: 5}}},
		{"velocity, client scope: all the client's accounts together",
			[]model.RiskRule{{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
				Client: sender, Ledger: 1, WindowNs: window, Amount: u(50), Count: 3}},
			[]step{{debit: 1, credit: 2, amount: 20}, {debit: 2, credit: 3, amount: 30},
				{debit: 3, credit: 4, amount: 1, status: model.StatusRiskClientVelocityAmount,
					rule: 3, limit: 50, current: 50},
				{client: operator, debit: 3, credit: 4, amount: 1}}},
		{"velocity count, client scope",
			[]model.RiskRule{{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
				Client: sender, WindowNs: window, Count: 1}},
			[]step{{debit: 1, credit: 2, amount: 1},
				{debit: 20, credit: 98, amount: 1, ledger: 2,
					status: model.StatusRiskClientVelocityCount, rule: 3, limit: 1, current: 1}}},
		{"daily amount per ledger: the whole ledger's day, then a new day",
			[]model.RiskRule{{ID: 4, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
				Ledger: 1, Amount: u(100)}},
			[]step{{debit: 1, credit: 2, amount: 70}, {debit: 3, credit: 4, amount: 30},
				{debit: 5, credit: 6, amount: 1, status: model.StatusRiskLedgerDailyAmount,
					rule: 4, limit: 100, current: 100},
				{debit: 20, credit: 98, amount: 500, ledger: 2},
				{wait: model.RiskDayNs, debit: 5, credit: 6, amount: 100}}},
		{"daily amount per client",
			[]model.RiskRule{{ID: 4, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient,
				Client: sender, Ledger: 1, Amount: u(10)}},
			[]step{{debit: 1, credit: 2, amount: 10},
				{debit: 1, credit: 2, amount: 1, status: model.StatusRiskClientDailyAmount,
					rule: 4, limit: 10, current: 10}}},
		{"blocked accounts, either side, and a blocked client",
			[]model.RiskRule{{ID: 6, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
				Account: u(5)},
				{ID: 7, Kind: model.RiskBlocked, Scope: model.RiskScopeClient, Client: other}},
			[]step{{debit: 5, credit: 2, amount: 1, status: model.StatusRiskDebitAccountBlocked, rule: 6},
				{debit: 2, credit: 5, amount: 1, status: model.StatusRiskCreditAccountBlocked, rule: 6},
				{client: other, debit: 9, credit: 2, amount: 1, status: model.StatusRiskClientBlocked, rule: 7},
				{debit: 2, credit: 9, amount: 1}}},
		{"blocked ledger",
			[]model.RiskRule{{ID: 6, Kind: model.RiskBlocked, Scope: model.RiskScopeLedger, Ledger: 2}},
			[]step{{debit: 20, credit: 98, amount: 1, ledger: 2,
				status: model.StatusRiskDebitAccountBlocked, rule: 6},
				{debit: 1, credit: 2, amount: 1}}},
		{"blocked counterparty, both directions; client scope",
			[]model.RiskRule{{ID: 8, Kind: model.RiskBlockedCounterparty,
				Scope: model.RiskScopeAccount, Account: u(1), Counterparty: u(2)},
				{ID: 9, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeClient,
					Client: sender, Counterparty: u(9)}},
			[]step{{debit: 1, credit: 2, amount: 1, status: model.StatusRiskCounterpartyBlocked, rule: 8},
				{debit: 2, credit: 1, amount: 1, status: model.StatusRiskCounterpartyBlocked, rule: 8},
				{debit: 1, credit: 3, amount: 1},
				{debit: 3, credit: 9, amount: 1, status: model.StatusRiskCounterpartyBlocked, rule: 9},
				{client: other, debit: 9, credit: 3, amount: 1}}},
		{"cooling off: a new payee account gets the small amount, more after the period",
			[]model.RiskRule{{ID: 10, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger,
				Ledger: 1, WindowNs: 10 * second, Amount: u(10)}},
			[]step{{debit: 1, credit: 30, amount: 11, status: model.StatusRiskNewCounterparty,
				rule: 10, limit: 10, current: 1}, // current: checked to be 30's creation time.
				{debit: 1, credit: 30, amount: 10},
				{wait: 9 * second, debit: 1, credit: 30, amount: 11,
					status: model.StatusRiskNewCounterparty, rule: 10, limit: 10, current: 1},
				{debit: 1, credit: 2, amount: 11}, // An account older than the period.
				{wait: second, debit: 1, credit: 30, amount: 1_000_000}}},
		{"anomaly: above mean + threshold × deviation after the warm-up",
			[]model.RiskRule{{ID: 11, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
				Account: u(1), Threshold: 64, Warmup: 3, Shift: 2}},
			[]step{{debit: 1, credit: 2, amount: 1000}, // Warm-up: never scored.
				{debit: 1, credit: 2, amount: 100}, {debit: 1, credit: 2, amount: 100},
				// Weight 1/4: mean 1000 → 775 → 607, deviation 0 → 225 → 337 (|100 − 775|
				// = 675; 225 + (675 − 225)/4); limit 607 + 64/16 × 337 = 1955.
				{debit: 1, credit: 2, amount: 1956, status: model.StatusRiskAnomaly, rule: 11,
					limit: 1955, current: 607},
				{debit: 1, credit: 2, amount: 1955}}},
		{"anomaly: the deviation is at least a sixteenth of the mean",
			[]model.RiskRule{{ID: 11, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger,
				Ledger: 1, Threshold: 32, Warmup: 2, Shift: 3}},
			[]step{{debit: 1, credit: 2, amount: 160}, {debit: 1, credit: 2, amount: 160},
				// Deviation 0, floored at 160/16 = 10: limit 160 + 2 × 10 = 180.
				{debit: 1, credit: 2, amount: 181, status: model.StatusRiskAnomaly, rule: 11,
					limit: 180, current: 160},
				{debit: 1, credit: 2, amount: 180}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.advance(20 * second)
			h.createAccounts(sender, model.Account{ID: u(30), Ledger: 1, Code: 1})
			created := h.now - 1
			h.set(c.rules...)
			for i, s := range c.steps {
				h.advance(s.wait)
				client := s.client
				if client == 0 {
					client = sender
				}
				result := h.send(client, model.Transfer{DebitAccountID: u(s.debit),
					CreditAccountID: u(s.credit), Amount: u(s.amount), Ledger: max(s.ledger, 1)})[0]
				if result.Status != s.status || result.Rule != s.rule {
					t.Fatalf("step %d: %s (rule %d), want %s (rule %d); detail %+v", i,
						result.Status, result.Rule, s.status, s.rule, result.Risk)
				}
				if !s.status.IsRiskRefusal() {
					continue
				}
				d := result.Risk
				wantCurrent := u(s.current)
				if s.status == model.StatusRiskNewCounterparty {
					wantCurrent = u(created) // The payee's creation time.
					if d.Until != created+10*second {
						t.Fatalf("step %d: cooling-off detail %+v", i, d)
					}
				}
				if d.Rule != s.rule || d.Limit != u(s.limit) || d.Current != wantCurrent ||
					d.Amount != u(s.amount) {
					t.Fatalf("step %d: detail %+v, want rule %d limit %d current %d amount %d",
						i, d, s.rule, s.limit, s.current, s.amount)
				}
			}
		})
	}
}
