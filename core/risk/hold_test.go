package risk_test

import (
	"testing"

	"sequent/core/model"
	"sequent/core/risk"
)

// holdHarness has an anomaly rule with the hold action on account 1, warmed up with two
// amounts of 100 (mean 100, deviation 0 floored at 6: limit 100 + 4 × 6 = 124).
func holdHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.set(model.RiskRule{ID: 12, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
		Account: u(1), Threshold: 64, Warmup: 2, Shift: 2, Action: model.RiskHold})
	h.expect(h.pay(1, 2, 100), model.StatusOK, 0)
	h.expect(h.pay(1, 2, 100), model.StatusOK, 0)
	return h
}

// TestHoldForReview: an anomalous single-phase transfer is created as a pending transfer
// flagged held_for_review (its amount reserved, nothing posted); only an operator posts
// it; its payer may void it; a retry answers risk_held_for_review again; the averages do
// not learn from it; inside a linked chain it is refused instead.
func TestHoldForReview(t *testing.T) {
	h := holdHarness(t)
	held := h.send(sender, model.Transfer{ID: u(500), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(1000)})[0]
	h.expect(held, model.StatusRiskHeldForReview, 12)
	if held.DebitAccount.DebitsPending != u(1000) || held.DebitAccount.DebitsPosted != u(200) {
		t.Fatalf("held transfer's balances %+v: want 1000 pending, 200 posted", held.DebitAccount)
	}
	stored := h.ledger.LookupTransfers([]model.Uint128{u(500)}, nil)
	want := model.TransferPending | model.TransferHeldForReview
	if len(stored) != 1 || stored[0].Flags != want {
		t.Fatalf("stored %+v, want flags %#x", stored, want)
	}
	// A retry of the same transfer answers the original outcome, not exists.
	retry := h.send(sender, model.Transfer{ID: u(500), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(1000)})[0]
	h.expect(retry, model.StatusRiskHeldForReview, 0)
	changed := h.send(sender, model.Transfer{ID: u(500), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(999)})[0]
	h.expect(changed, model.StatusExistsWithDifferentAmount, 0)
	// The held amount did not move the averages: 124 still passes, 125 is held.
	h.expect(h.pay(1, 2, 124), model.StatusOK, 0)
	h.expect(h.pay(1, 2, 131), model.StatusRiskHeldForReview, 12)

	post := model.Transfer{ID: u(501), PendingID: u(500), Amount: model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)},
		Flags: model.TransferPostPending}
	h.expect(h.send(sender, post)[0], model.StatusRiskReviewRequired, 0)
	post.ID = u(502)
	h.expect(h.send(operator, post)[0], model.StatusOK, 0)
	// id 501 failed for a transient reason: it stays failed.
	post.ID = u(501)
	h.expect(h.send(operator, post)[0], model.StatusIDAlreadyFailed, 0)

	voided := h.send(sender, model.Transfer{ID: u(510), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(5000)})[0]
	h.expect(voided, model.StatusRiskHeldForReview, 12)
	h.expect(h.send(sender, model.Transfer{ID: u(511), PendingID: u(510),
		Flags: model.TransferVoidPending})[0], model.StatusOK, 0)
}

func TestHoldInsideAChainIsARefusal(t *testing.T) {
	h := holdHarness(t)
	results := h.send(sender,
		model.Transfer{DebitAccountID: u(4), CreditAccountID: u(5), Amount: u(7),
			Flags: model.TransferLinked},
		model.Transfer{DebitAccountID: u(1), CreditAccountID: u(3), Amount: u(1000)})
	h.expect(results[0], model.StatusLinkedEventFailed, 0)
	h.expect(results[1], model.StatusRiskAnomaly, 12)
	if results[1].Risk.Action != model.RiskHold {
		t.Fatalf("detail %+v: want the hold action named", results[1].Risk)
	}
}

// TestChainRollbackRestoresCounters: a linked chain that fails leaves no trace in the
// windows, daily totals or averages (its transfers were never created).
func TestChainRollbackRestoresCounters(t *testing.T) {
	h := newHarness(t)
	h.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * second, Amount: u(100)},
		model.RiskRule{ID: 2, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient,
			Client: sender, Ledger: 1, Amount: u(100)},
		model.RiskRule{ID: 3, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
			Account: u(4), Threshold: 16, Warmup: 1, Shift: 1})
	results := h.send(sender,
		model.Transfer{DebitAccountID: u(1), CreditAccountID: u(2), Amount: u(90),
			Flags: model.TransferLinked},
		model.Transfer{DebitAccountID: u(1), CreditAccountID: u(404), Amount: u(1)})
	h.expect(results[1], model.StatusCreditAccountNotFound, 0)
	h.expect(h.pay(1, 2, 100), model.StatusOK, 0) // Window and day empty again.
	// Account 4's averages learnt nothing from a failed chain: with 1,000 in them, 1,500
	// would pass (limit 1,000 + 1 × 62); without, 1 then 200 is anomalous.
	results = h.send(operator,
		model.Transfer{DebitAccountID: u(4), CreditAccountID: u(3), Amount: u(1000),
			Flags: model.TransferLinked},
		model.Transfer{DebitAccountID: u(4), CreditAccountID: u(404), Amount: u(1)})
	h.expect(results[0], model.StatusLinkedEventFailed, 0)
	h.expect(h.send(operator, model.Transfer{DebitAccountID: u(4), CreditAccountID: u(3),
		Amount: u(1)})[0], model.StatusOK, 0)
	h.expect(h.send(operator, model.Transfer{DebitAccountID: u(4), CreditAccountID: u(3),
		Amount: u(200)})[0], model.StatusRiskAnomaly, 3)
}

// TestRiskPrecedence: when several rules refuse a transfer, the documented order picks
// the status: blocked, then max amount, cooling off, velocity, daily, anomaly; and the
// ledger's own checks come first (a missing account is not a risk).
func TestRiskPrecedence(t *testing.T) {
	h := newHarness(t)
	h.set(model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: u(10)},
		model.RiskRule{ID: 2, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger,
			Ledger: 1, WindowNs: 10 * second, Amount: u(5)},
		model.RiskRule{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger,
			Ledger: 1, WindowNs: 4 * second, Count: 1},
		model.RiskRule{ID: 4, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
			Ledger: 1, Amount: u(6)})
	h.expect(h.pay(1, 404, 50), model.StatusCreditAccountNotFound, 0)
	h.expect(h.pay(1, 2, 50), model.StatusRiskAmountAboveMaximum, 1)
	h.expect(h.pay(1, 2, 6), model.StatusRiskNewCounterparty, 2)
	h.expect(h.pay(1, 2, 5), model.StatusOK, 0)
	h.expect(h.pay(1, 3, 6), model.StatusRiskNewCounterparty, 2)
	h.expect(h.pay(1, 3, 1), model.StatusRiskAccountVelocityCount, 3)
	h.expect(h.pay(2, 3, 2), model.StatusRiskLedgerDailyAmount, 4)
	h.set(model.RiskRule{ID: 5, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(1)})
	h.expect(h.pay(1, 2, 50), model.StatusRiskDebitAccountBlocked, 5)
	// A refused id is remembered as failed: a retry cannot succeed later.
	result := h.send(sender, model.Transfer{ID: u(900), DebitAccountID: u(2),
		CreditAccountID: u(4), Amount: u(50)})[0]
	h.expect(result, model.StatusRiskAmountAboveMaximum, 1)
	statuses := make([]model.Status, 1)
	h.ledger.Risk().Remove([]uint32{1}, statuses)
	result = h.send(sender, model.Transfer{ID: u(900), DebitAccountID: u(2),
		CreditAccountID: u(4), Amount: u(50)})[0]
	h.expect(result, model.StatusIDAlreadyFailed, 0)
}

// TestPostsAndBlocks: a pending transfer is judged when it is created; its post is not
// counted again, but a blocked account refuses the post (a void goes through).
func TestPostsAndBlocks(t *testing.T) {
	h := newHarness(t)
	h.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger,
		Ledger: 1, WindowNs: 4 * second, Count: 1})
	h.expect(h.send(sender, model.Transfer{ID: u(600), DebitAccountID: u(1),
		CreditAccountID: u(2), Amount: u(10), Flags: model.TransferPending})[0], model.StatusOK, 0)
	h.expect(h.send(sender, model.Transfer{ID: u(601), PendingID: u(600), Amount: u(4),
		Flags: model.TransferPostPending})[0], model.StatusOK, 0)
	h.expect(h.send(sender, model.Transfer{ID: u(602), DebitAccountID: u(2),
		CreditAccountID: u(3), Amount: u(10), Flags: model.TransferPending})[0], model.StatusOK, 0)
	h.set(model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(3)})
	h.expect(h.send(sender, model.Transfer{ID: u(603), PendingID: u(602),
		Amount: u(10), Flags: model.TransferPostPending})[0], model.StatusRiskCreditAccountBlocked, 2)
	h.expect(h.send(sender, model.Transfer{ID: u(604), PendingID: u(602),
		Flags: model.TransferVoidPending})[0], model.StatusOK, 0)
}

// TestRuleAdministration: the statuses of set and remove, per rule.
func TestRuleAdministration(t *testing.T) {
	h := newHarness(t)
	valid := model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: u(5)}
	cases := []struct {
		name string
		rule model.RiskRule
		want model.Status
	}{
		{"id zero", model.RiskRule{Kind: model.RiskBlocked, Scope: model.RiskScopeLedger, Ledger: 1},
			model.StatusRiskRuleIDMustNotBeZero},
		{"unknown kind", model.RiskRule{ID: 2, Kind: 99, Scope: model.RiskScopeLedger, Ledger: 1},
			model.StatusRiskRuleInvalid},
		{"ledger scope without a ledger", model.RiskRule{ID: 2, Kind: model.RiskBlocked,
			Scope: model.RiskScopeLedger}, model.StatusRiskRuleInvalid},
		{"a field the kind does not use", model.RiskRule{ID: 2, Kind: model.RiskBlocked,
			Scope: model.RiskScopeLedger, Ledger: 1, Amount: u(1)}, model.StatusRiskRuleInvalid},
		{"hold on a kind that cannot hold", model.RiskRule{ID: 2, Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeLedger, Ledger: 1, Action: model.RiskHold}, model.StatusRiskRuleInvalid},
		{"velocity window not a multiple of the buckets", model.RiskRule{ID: 2,
			Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 4*second + 1, Count: 1}, model.StatusRiskRuleInvalid},
		{"velocity without a limit", model.RiskRule{ID: 2, Kind: model.RiskVelocity,
			Scope: model.RiskScopeLedger, Ledger: 1, WindowNs: 4 * second}, model.StatusRiskRuleInvalid},
		{"client amounts without a ledger", model.RiskRule{ID: 2, Kind: model.RiskDailyAmount,
			Scope: model.RiskScopeClient, Client: sender, Amount: u(1)}, model.StatusRiskRuleInvalid},
		{"daily on an account", model.RiskRule{ID: 2, Kind: model.RiskDailyAmount,
			Scope: model.RiskScopeAccount, Account: u(1), Amount: u(1)}, model.StatusRiskRuleInvalid},
		{"counterparty of itself", model.RiskRule{ID: 2, Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeAccount, Account: u(1), Counterparty: u(1)}, model.StatusRiskRuleInvalid},
		{"missing account", model.RiskRule{ID: 2, Kind: model.RiskBlocked,
			Scope: model.RiskScopeAccount, Account: u(404)}, model.StatusRiskRuleAccountNotFound},
		{"same target and kind as another id", model.RiskRule{ID: 2, Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeLedger, Ledger: 1, Amount: u(9)}, model.StatusRiskRuleConflict},
		{"replacing by id", model.RiskRule{ID: 1, Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeLedger, Ledger: 1, Amount: u(9)}, model.StatusOK},
	}
	h.set(valid)
	for _, c := range cases {
		if got := h.setStatuses(c.rule)[0]; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	for id := uint32(100); id < 100+16; id++ {
		status := h.setStatuses(model.RiskRule{ID: id, Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeClient, Client: sender, Ledger: id, Amount: u(1)})[0]
		want := model.StatusOK
		if id == 100+15 {
			want = model.StatusRiskRulesLimitReached // RulesPerClientMax (16) minus the one below.
		}
		if id == 100 {
			h.setStatuses(model.RiskRule{ID: 99, Kind: model.RiskBlocked, Scope: model.RiskScopeClient,
				Client: sender, Ledger: 77})
		}
		if status != want {
			t.Fatalf("client rule %d: %s, want %s", id, status, want)
		}
	}
	statuses := make([]model.Status, 2)
	h.ledger.Risk().Remove([]uint32{1, 404}, statuses)
	if statuses[0] != model.StatusOK || statuses[1] != model.StatusRiskRuleNotFound {
		t.Fatalf("remove: %v", statuses)
	}
	rules := h.ledger.Risk().Rules(0, 1000, nil)
	if len(rules) != 16 || rules[0].ID != 99 || rules[0].Timestamp == 0 {
		t.Fatalf("rules after removal: %d, first %+v", len(rules), rules[0])
	}
}

// TestBlockedCounterpartiesPerAccountBound: an account holds at most
// CounterpartiesPerAccountMax blocked counterparties; the next one is refused with
// risk_rules_limit_reached, while a rule of another kind on the same account, and a
// blocked counterparty of another account, do not count against it. Rules pages its
// answer by limit and afterID.
func TestBlockedCounterpartiesPerAccountBound(t *testing.T) {
	h := newHarness(t)
	block := func(id uint32, account, counterparty uint64) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeAccount, Account: u(account), Counterparty: u(counterparty)}
	}
	for id := uint32(1); id <= risk.CounterpartiesPerAccountMax; id++ {
		h.set(block(id, 1, 1000+uint64(id)))
	}
	cases := []struct {
		name string
		rule model.RiskRule
		want model.Status
	}{
		{"one more on the same account", block(100, 1, 2000), model.StatusRiskRulesLimitReached},
		{"another kind on the same account", model.RiskRule{ID: 101, Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeAccount, Account: u(1), Amount: u(5)}, model.StatusOK},
		{"the same counterparty for another account", block(102, 2, 2000), model.StatusOK},
		{"replacing one of the sixteen", block(16, 1, 3000), model.StatusOK},
	}
	for _, c := range cases {
		if got := h.setStatuses(c.rule)[0]; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	page := h.ledger.Risk().Rules(0, 2, nil)
	if len(page) != 2 || page[0].ID != 1 || page[1].ID != 2 {
		t.Fatalf("first page of 2: %+v", page)
	}
	page = h.ledger.Risk().Rules(16, 2, nil)
	if len(page) != 2 || page[0].ID != 101 || page[1].ID != 102 {
		t.Fatalf("page after rule 16: %+v", page)
	}
}

// TestHeldTransferNeedsReviewWithoutRules: a held transfer stays held after its rule is
// removed (the engine inactive): its payer's post is still refused with
// risk_review_required, and an operator's still posts it. The ledger skips the risk
// call of a post inline only when neither a hold nor an active rule applies.
func TestHeldTransferNeedsReviewWithoutRules(t *testing.T) {
	h := holdHarness(t)
	held := h.send(sender, model.Transfer{ID: u(500), DebitAccountID: u(1),
		CreditAccountID: u(3), Amount: u(1000)})[0]
	h.expect(held, model.StatusRiskHeldForReview, 12)
	statuses := make([]model.Status, 1)
	h.ledger.Risk().Remove([]uint32{12}, statuses) // No rules: the engine is inactive.
	if statuses[0] != model.StatusOK || h.ledger.Risk().Active() {
		t.Fatalf("removing the rule: %s; the engine active: %t", statuses[0], h.ledger.Risk().Active())
	}
	post := model.Transfer{ID: u(501), PendingID: u(500),
		Amount: model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}, Flags: model.TransferPostPending}
	h.expect(h.send(sender, post)[0], model.StatusRiskReviewRequired, 0)
	post.ID = u(502)
	posted := h.send(operator, post)[0]
	h.expect(posted, model.StatusOK, 0)
	if posted.DebitAccount.DebitsPosted != u(1200) || !posted.DebitAccount.DebitsPending.IsZero() {
		t.Fatalf("after the post: %+v, want 1200 posted and nothing pending", posted.DebitAccount)
	}
}
