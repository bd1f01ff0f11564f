package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// setRules sets rules on the given shards of a pair, each required to be taken.
func (p *pair) setRules(shards []int, rules ...model.RiskRule) {
	p.t.Helper()
	for _, shard := range shards {
		out := p.shards[shard].apply(Request{Operation: model.OperationSetRiskRules,
			Body: riskRulesBody(rules...)})
		for i, status := range eventStatuses(p.t, out.Body(&out.Replies[0])) {
			if status != model.StatusOK {
				p.t.Fatalf("rule %d on shard %d: %s", rules[i].ID, shard, status)
			}
		}
	}
}

// crossFinal sends a transfer and, when it crosses shards, settles its saga: it returns
// the status the client gets (the saga's final one) and whether the saga ran.
func (p *pair) crossFinal(transfer model.Transfer) (model.TransferResult, bool) {
	p.t.Helper()
	result, messages := p.transfer(transfer)
	if result.Status != model.StatusSagaInFlight {
		if len(messages) != 0 {
			p.t.Fatalf("transfer %s answered %s with %d messages", transfer.ID, result.Status,
				len(messages))
		}
		return result, false
	}
	finished := p.settle(messages)
	if len(finished) != 1 || finished[0].Kind != saga.MessageFinished {
		p.t.Fatalf("transfer %s: %d messages after the saga", transfer.ID, len(finished))
	}
	return finished[0].Finished.Result, true
}

// Accounts of the tests below: 1 and 2 on shard 0, 100 and 101 on shard 1 (twoShards).
var (
	allShards = []int{0, 1}
	shard0    = []int{0}
	shard1    = []int{1}
)

// TestRiskRuleKindsOnCrossShardTransfers shows what each kind of rule does to a transfer
// from account 1 (shard 0) to account 100 (shard 1), set where `sequent admin risk set`
// puts it (ledger and client rules on every shard, an account rule on its account's
// shard), beside the same transfer to account 2 (shard 0). Step 1 (the pending debit into
// the settlement account, on the debit shard) is judged by the debit account's rules and
// the client's, so those refuse before anything moves, with the local code. Step 2 (the
// credit, on the credit shard) is judged by the payee's blocks (rules version 5): the
// saga voids step 1 and the client gets the code. From version 5 step 1 also sees the
// payee (not the settlement account) where a rule names the other account. Cooling-off
// is judged nowhere: the payee's age is on the credit shard, the rule's profile (the
// payer's) on the debit shard (README "Risk rules" documents this). A change to these
// rows is a change of behaviour: update the README.
func TestRiskRuleKindsOnCrossShardTransfers(t *testing.T) {
	day := uint64(model.RiskDayNs)
	// Shorter than the harness's clock since 0 (1,000 s): step 1 judges cooling-off with
	// the payee's creation as 0, which passes only a period shorter than the timestamp
	// (always so with real clocks: nanoseconds since 1970).
	const coolingOffNs = 500 * 1_000_000_000
	tests := []struct {
		name   string
		shards []int
		rule   model.RiskRule
		local  model.Status // The transfer 1 → 2 (same shard).
		cross  model.Status // The transfer 1 → 100: the client's final status.
		saga   bool         // Whether the cross-shard transfer started a saga.
	}{
		{"max_amount of the ledger", allShards, model.RiskRule{Kind: model.RiskMaxAmount,
			Scope: model.RiskScopeLedger, Ledger: 1, Amount: model.U128(10)},
			model.StatusRiskAmountAboveMaximum, model.StatusRiskAmountAboveMaximum, false},
		{"payer blocked", shard0, model.RiskRule{Kind: model.RiskBlocked,
			Scope: model.RiskScopeAccount, Account: model.U128(1)},
			model.StatusRiskDebitAccountBlocked, model.StatusRiskDebitAccountBlocked, false},
		{"client blocked", allShards, model.RiskRule{Kind: model.RiskBlocked,
			Scope: model.RiskScopeClient, Client: 1},
			model.StatusRiskClientBlocked, model.StatusRiskClientBlocked, false},
		{"payer's velocity", shard0, model.RiskRule{Kind: model.RiskVelocity,
			Scope: model.RiskScopeAccount, Account: model.U128(1), WindowNs: day,
			Amount: model.U128(10)},
			model.StatusRiskAccountVelocityAmount, model.StatusRiskAccountVelocityAmount, false},
		{"client's daily amount", allShards, model.RiskRule{Kind: model.RiskDailyAmount,
			Scope: model.RiskScopeClient, Client: 1, Ledger: 1, Amount: model.U128(10)},
			model.StatusRiskClientDailyAmount, model.StatusRiskClientDailyAmount, false},
		// A hold would leave step 1 waiting for an operator: across shards it refuses.
		{"payer's anomaly, hold", shard0, model.RiskRule{Kind: model.RiskAnomaly,
			Scope: model.RiskScopeAccount, Account: model.U128(1), Threshold: 16, Warmup: 1, Shift: 1,
			Action: model.RiskHold},
			model.StatusRiskHeldForReview, model.StatusRiskAnomaly, false},
		// Step 1 sees the payee where a rule names the other account (rules version 5).
		{"payer blocks the payee", shard0, model.RiskRule{Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeAccount, Account: model.U128(1), Counterparty: model.U128(100)},
			model.StatusRiskCounterpartyBlocked, model.StatusRiskCounterpartyBlocked, false},
		{"client blocks the payee", allShards, model.RiskRule{Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeClient, Client: 1, Counterparty: model.U128(100)},
			model.StatusRiskCounterpartyBlocked, model.StatusRiskCounterpartyBlocked, false},
		// Judged on the credit shard (step 2, rules version 5): the saga voids step 1.
		{"payee blocked", shard1, model.RiskRule{Kind: model.RiskBlocked,
			Scope: model.RiskScopeAccount, Account: model.U128(100)},
			model.StatusRiskCreditAccountBlocked, model.StatusRiskCreditAccountBlocked, true},
		{"payee blocks the payer", shard1, model.RiskRule{Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeAccount, Account: model.U128(100), Counterparty: model.U128(1)},
			model.StatusRiskCounterpartyBlocked, model.StatusRiskCounterpartyBlocked, true},
		// Judged nowhere: the payee's age is on shard 1, the rule's profile on shard 0.

		{"cooling-off of the ledger", allShards, model.RiskRule{Kind: model.RiskCoolingOff,
			Scope: model.RiskScopeLedger, Ledger: 1, WindowNs: coolingOffNs, Amount: model.U128(10)},
			model.StatusRiskNewCounterparty, model.StatusOK, true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			p := newPair(t)
			p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0})
			rule := test.rule
			rule.ID = 1
			p.setRules(test.shards, rule)
			// A payee-side rule for account 100 is also set, as rule 2, for account 2 (on
			// shard 0), so that the local column shows what the rule does to a local payee.
			if local := rule; local.Account == model.U128(100) || local.Counterparty == model.U128(100) {
				local.ID = 2
				if local.Account == model.U128(100) {
					local.Account = model.U128(2)
				} else {
					local.Counterparty = model.U128(2)
				}
				p.setRules(shard0, local)
			}
			if rule.Kind == model.RiskAnomaly { // Its one transfer of warm-up: 1 unit.
				if warm, _ := p.crossFinal(simpleTransfer(9, 1, 2, 1)); warm.Status != model.StatusOK {
					t.Fatalf("warm-up: %s", warm.Status)
				}
			}
			local, _ := p.crossFinal(simpleTransfer(10, 1, 2, 50))
			if local.Status != test.local {
				t.Fatalf("local transfer: %s, want %s", local.Status, test.local)
			}
			cross, ran := p.crossFinal(simpleTransfer(11, 1, 100, 50))
			if cross.Status != test.cross || ran != test.saga {
				t.Fatalf("cross-shard transfer: %s (saga %t), want %s (saga %t)", cross.Status,
					ran, test.cross, test.saga)
			}
			credited := p.account(100).CreditsPosted
			if want := model.U128(0); test.cross == model.StatusOK {
				if credited != model.U128(50) {
					t.Fatalf("payee credited %s, want 50", credited)
				}
			} else if credited != want {
				t.Fatalf("refused, yet the payee was credited %s", credited)
			}
			if net, pending := p.settlementNet(); net != 0 || pending != 0 {
				t.Fatalf("settlement pair nets %d with %d pending", net, pending)
			}
		})
	}
}

// TestRiskCountersOnCrossShardTransfers: a cross-shard transfer counts once, on its
// debit shard (step 1, the client's debit), in the ledger's daily amount and the client's
// velocity window; the credit shard's step 2 counts nowhere. Ledger and client counters
// are each shard's own: the same rule on every shard allows its limit per shard, so a
// ledger's node-wide daily amount and a client's node-wide count may reach the number of
// shards times the limit (README "Risk rules").
func TestRiskCountersOnCrossShardTransfers(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0})
	p.setRules(allShards,
		model.RiskRule{ID: 1, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
			Ledger: 1, Amount: model.U128(100)},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
			Client: p.actor, Ledger: 1, WindowNs: model.RiskDayNs, Count: 2})
	steps := []struct {
		id, debit, credit, amount uint64
		want                      model.Status
		why                       string
	}{
		{10, 1, 100, 60, model.StatusOK, "crosses: shard 0 counts 60 and one transfer"},
		{11, 100, 101, 60, model.StatusOK,
			"shard 1's daily amount holds 60: the credit step of 60 was not counted there"},
		{12, 1, 2, 50, model.StatusRiskLedgerDailyAmount, "shard 0: 60 + 50 above 100"},
		{13, 1, 2, 40, model.StatusOK, "shard 0: 60 + 40 = 100: the crossing counted once"},
		{14, 1, 2, 1, model.StatusRiskClientVelocityCount,
			"shard 0: the client's third transfer of the window (the crossing was one)"},
		{15, 100, 101, 1, model.StatusOK,
			"shard 1: the client's second there (its fourth on the node): windows are per shard"},
	}
	for _, step := range steps {
		result, _ := p.crossFinal(simpleTransfer(step.id, step.debit, step.credit, step.amount))
		if result.Status != step.want {
			t.Fatalf("transfer %d (%s): %s, want %s", step.id, step.why, result.Status, step.want)
		}
	}
}

// TestPayeeRiskNeedsRulesVersion5: a log written before rules version 5 replays as it was
// applied: on a node still at version 4 a blocked payee on the other shard is credited
// (step 2 judged by no rule), and so is a payee the payer blocks (step 1 judged as a
// transfer to the settlement account); moved to version 5, the next such transfers are
// refused, on the credit side and on the debit side.
func TestPayeeRiskNeedsRulesVersion5(t *testing.T) {
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
		p.shards[i].upgradeRules(rulesVersionOrderFlags)
	}
	p.accounts(map[uint64]uint16{1: 0, 100: 0, 101: 0})
	p.setRules(shard1, model.RiskRule{ID: 1, Kind: model.RiskBlocked,
		Scope: model.RiskScopeAccount, Account: model.U128(100)})
	p.setRules(shard0, model.RiskRule{ID: 2, Kind: model.RiskBlockedCounterparty,
		Scope: model.RiskScopeAccount, Account: model.U128(1), Counterparty: model.U128(101)})
	if result, ran := p.crossFinal(simpleTransfer(10, 1, 100, 50)); result.Status != model.StatusOK || !ran {
		t.Fatalf("rules version 4: %s (saga %t), want ok as applied before", result.Status, ran)
	}
	if result, ran := p.crossFinal(simpleTransfer(20, 1, 101, 50)); result.Status != model.StatusOK || !ran {
		t.Fatalf("rules version 4, payer blocks the payee: %s (saga %t), want ok as applied "+
			"before", result.Status, ran)
	}
	for _, h := range p.shards {
		h.upgradeRules(rulesVersionPayeeRisk)
	}
	result, _ := p.crossFinal(simpleTransfer(11, 1, 100, 50))
	if result.Status != model.StatusRiskCreditAccountBlocked {
		t.Fatalf("rules version 5: %s, want risk_credit_account_blocked", result.Status)
	}
	if result.Rule != 0 || result.Risk != (model.RiskDetail{}) {
		t.Fatalf("a refusal on the credit side has no explanation (the decision carries a "+
			"status only): rule %d, %+v", result.Rule, result.Risk)
	}
	if retry, _ := p.crossFinal(simpleTransfer(11, 1, 100, 50)); retry.Status != model.StatusIDAlreadyFailed {
		t.Fatalf("retry after the credit side's risk refusal: %s, want id_already_failed", retry.Status)
	}
	if blocked, ran := p.crossFinal(simpleTransfer(21, 1, 101, 50)); ran ||
		blocked.Status != model.StatusRiskCounterpartyBlocked || blocked.Rule != 2 {
		t.Fatalf("rules version 5, payer blocks the payee: %s (rule %d, saga %t), want "+
			"risk_counterparty_blocked by rule 2 before anything moves", blocked.Status,
			blocked.Rule, ran)
	}
	if payer := p.account(1); payer.DebitsPosted != model.U128(100) || !payer.DebitsPending.IsZero() {
		t.Fatalf("payer after refusals: posted %s, pending %s; want 100 and 0",
			payer.DebitsPosted, payer.DebitsPending)
	}
}
