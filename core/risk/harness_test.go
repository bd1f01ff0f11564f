package risk_test

import (
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// second is one second of entry time, in nanoseconds.
const second = uint64(1_000_000_000)

// sender is the client that owns the test accounts and sends the transfers; operator
// holds the operator scope.
const (
	sender   = uint64(7)
	other    = uint64(8)
	operator = uint64(9)
)

// harness is a ledger with accounts 1..9 on ledger 1 (1..8 owned by sender, 9 by other;
// 20 on ledger 2, owned by sender), every one funded with credits, and a clock.
type harness struct {
	t      *testing.T
	ledger *ledger.Ledger
	now    uint64
	nextID uint64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	l := ledger.New(ledger.Config{HashSeed: 1})
	h := &harness{t: t, ledger: l, now: 1_000 * second, nextID: 1000}
	// Transfer grants over exactly the accounts each client creates: a client without one
	// may not create accounts that can go negative (no self-issued money), and these
	// tests' accounts carry no balance limit.
	if err := l.SetGrants([]model.Grant{{Client: operator, Scopes: model.ScopeOperator},
		{Client: sender, Scopes: model.ScopeTransfer, First: model.U128(1), Last: model.U128(8)},
		{Client: sender, Scopes: model.ScopeTransfer, First: model.U128(20), Last: model.U128(99)},
		{Client: other, Scopes: model.ScopeTransfer, First: model.U128(9), Last: model.U128(9)},
	}); err != nil {
		t.Fatal(err)
	}
	var accounts []model.Account
	for id := uint64(1); id <= 8; id++ {
		accounts = append(accounts, model.Account{ID: model.U128(id), Ledger: 1, Code: 1})
	}
	accounts = append(accounts, model.Account{ID: model.U128(20), Ledger: 2, Code: 1},
		model.Account{ID: model.U128(99), Ledger: 1, Code: 1}, // The funding source.
		model.Account{ID: model.U128(98), Ledger: 2, Code: 1})
	h.createAccounts(sender, accounts...)
	h.createAccounts(other, model.Account{ID: model.U128(9), Ledger: 1, Code: 1})
	return h
}

func (h *harness) createAccounts(client uint64, accounts ...model.Account) {
	h.t.Helper()
	results := make([]model.EventResult, len(accounts))
	h.now += second
	h.ledger.CreateAccountsAs(client, h.now, accounts, results)
	for i := range results {
		if results[i].Status != model.StatusOK {
			h.t.Fatalf("account %s: %s", accounts[i].ID, results[i].Status)
		}
	}
	h.now += uint64(len(accounts))
}

// set puts rules in force and expects each to be accepted.
func (h *harness) set(rules ...model.RiskRule) {
	h.t.Helper()
	if statuses := h.setStatuses(rules...); len(statuses) != 0 {
		for i, status := range statuses {
			if status != model.StatusOK {
				h.t.Fatalf("rule %d: %s", rules[i].ID, status)
			}
		}
	}
}

func (h *harness) setStatuses(rules ...model.RiskRule) []model.Status {
	statuses := make([]model.Status, len(rules))
	h.now++
	h.ledger.Risk().Set(rules, h.now, statuses)
	return statuses
}

// at moves the clock to offset after its current second (offset < 1 s keeps ordering).
func (h *harness) advance(duration uint64) { h.now += duration }

// send sends transfers as client in one batch at the current time and returns their
// results.
func (h *harness) send(client uint64, transfers ...model.Transfer) []model.TransferResult {
	h.t.Helper()
	for i := range transfers {
		if transfers[i].ID.IsZero() {
			h.nextID++
			transfers[i].ID = model.U128(h.nextID)
		}
		if transfers[i].Ledger == 0 {
			transfers[i].Ledger = 1
		}
		if transfers[i].Code == 0 {
			transfers[i].Code = 1
		}
	}
	results := make([]model.TransferResult, len(transfers))
	h.now++
	h.ledger.CreateTransfersAs(client, true, h.now, transfers, results)
	h.now += uint64(len(transfers))
	return results
}

// pay sends one transfer of amount from debit to credit as sender and returns its result.
func (h *harness) pay(debit, credit, amount uint64) model.TransferResult {
	h.t.Helper()
	return h.send(sender, model.Transfer{DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount)})[0]
}

// expect checks a result's status and, for a risk refusal, the rule it names.
func (h *harness) expect(result model.TransferResult, status model.Status, rule uint32) {
	h.t.Helper()
	if result.Status != status {
		h.t.Fatalf("status %s, want %s (detail %+v)", result.Status, status, result.Risk)
	}
	if result.Rule != rule {
		h.t.Fatalf("%s names rule %d, want %d", status, result.Rule, rule)
	}
	if status.IsRiskRefusal() && status != model.StatusRiskReviewRequired &&
		result.Risk.Rule != rule {
		h.t.Fatalf("detail names rule %d, want %d", result.Risk.Rule, rule)
	}
}

func u(v uint64) model.Uint128 { return model.U128(v) }
