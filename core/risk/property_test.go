package risk_test

import (
	"fmt"
	"math/big"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/internal/rapidseed"
	"sequent/core/ledger"
	"sequent/core/model"
)

// The property test checks the engine, through the ledger, against naiveRules: a model
// that keeps nothing but the list of created transfers and recomputes every rule's value
// from it for each new transfer (windows, days, pairs and averages by scanning the
// history from the rule's setting on). Random rules of every kind and scope, random
// senders, accounts, amounts, waits (from nothing to more than a day) and linked pairs
// (whose failure must leave no trace) must give the same status, rule and detail limit
// for every transfer.

// propertyLedgers are the accounts per ledger; 404 is missing.
var propertyLedgers = map[uint32][]uint64{1: {1, 2, 3, 4, 5, 6}, 2: {20, 98}}

type created struct {
	timestamp     uint64
	client        uint64
	debit, credit uint64
	ledger        uint32
	amount        uint64
	held          bool
}

type naiveRules struct {
	rules   []model.RiskRule // By id.
	setAt   uint64
	history []created
	opened  map[uint64]uint64 // Account → creation timestamp.
}

func genRule(t *rapid.T, id uint32, kind model.RiskKind) (model.RiskRule, bool) {
	label := fmt.Sprintf("rule%d", id)
	scopes := []model.RiskScope{model.RiskScopeLedger, model.RiskScopeAccount, model.RiskScopeClient}
	switch kind {
	case model.RiskDailyAmount:
		scopes = []model.RiskScope{model.RiskScopeLedger, model.RiskScopeClient}
	case model.RiskBlockedCounterparty:
		scopes = []model.RiskScope{model.RiskScopeAccount, model.RiskScopeClient}
	}
	rule := model.RiskRule{ID: id, Kind: kind, Scope: rapid.SampledFrom(scopes).Draw(t, label+".scope")}
	switch rule.Scope {
	case model.RiskScopeLedger:
		rule.Ledger = rapid.Uint32Range(1, 2).Draw(t, label+".ledger")
	case model.RiskScopeAccount:
		rule.Account = u(rapid.SampledFrom([]uint64{1, 2, 3, 20}).Draw(t, label+".account"))
	case model.RiskScopeClient:
		rule.Client = rapid.SampledFrom([]uint64{sender, other}).Draw(t, label+".client")
		rule.Ledger = rapid.Uint32Range(0, 2).Draw(t, label+".filter")
	}
	sums := rule.Scope != model.RiskScopeClient || rule.Ledger != 0
	switch kind {
	case model.RiskMaxAmount:
		rule.Amount = u(rapid.Uint64Range(20, 400).Draw(t, label+".amount"))
	case model.RiskVelocity:
		rule.WindowNs = 4 * second * rapid.Uint64Range(1, 6).Draw(t, label+".window")
		if sums && rapid.Bool().Draw(t, label+".by_amount") {
			rule.Amount = u(rapid.Uint64Range(50, 900).Draw(t, label+".amount"))
		}
		if rule.Amount.IsZero() || rapid.Bool().Draw(t, label+".by_count") {
			rule.Count = rapid.Uint64Range(1, 6).Draw(t, label+".count")
		}
	case model.RiskDailyAmount:
		if !sums {
			rule.Ledger = 1
		}
		rule.Amount = u(rapid.Uint64Range(100, 3000).Draw(t, label+".amount"))
	case model.RiskBlocked:
		if rapid.IntRange(0, 2).Draw(t, label+".rare") != 0 {
			return rule, false // Blocks are rare: they would hide the other rules.
		}
	case model.RiskBlockedCounterparty:
		rule.Counterparty = u(rapid.SampledFrom([]uint64{1, 2, 3, 4, 20, 98}).Draw(t, label+".counterparty"))
		if rule.Counterparty == rule.Account {
			return rule, false
		}
	case model.RiskCoolingOff:
		rule.WindowNs = second * rapid.Uint64Range(1, 60).Draw(t, label+".period")
		rule.Amount = u(rapid.Uint64Range(0, 100).Draw(t, label+".small"))
	case model.RiskAnomaly:
		rule.Threshold = rapid.Uint32Range(8, 80).Draw(t, label+".threshold")
		rule.Warmup = uint16(rapid.IntRange(1, 4).Draw(t, label+".warmup"))
		rule.Shift = uint8(rapid.IntRange(1, 4).Draw(t, label+".shift"))
		rule.Action = model.RiskAction(rapid.IntRange(0, 1).Draw(t, label+".action"))
	}
	return rule, rule.Validate() == model.StatusOK
}

// TestRulesAgainstNaiveModel compares the engine's verdicts with the naive model's over
// random rule sets and transfers, from a new random seed each run.
func TestRulesAgainstNaiveModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { rulesMatchNaiveModel(t, nil) })
}

// Coverage of TestRiskPropertyReachesEveryVerdict: the same property from a fixed seed,
// so the count of each verdict is the same on every run. With a random seed the check
// "every verdict reached at least once" failed CI by chance (a rare verdict missed by a
// whole run); from a fixed seed it fails only when a change to the generators or the
// engine stops this run reaching a verdict.
const (
	propertyCoverageSeed   = 1
	propertyCoverageChecks = 100
)

// TestRiskPropertyReachesEveryVerdict requires the property's random mix, run from a
// fixed seed, to end at least one transfer with each rule's verdict: a comparison that
// never reaches a rule would prove nothing about it.
func TestRiskPropertyReachesEveryVerdict(t *testing.T) {
	rapidseed.Fix(t, propertyCoverageSeed, propertyCoverageChecks)
	seen := map[model.Status]int{}
	rapid.Check(t, func(t *rapid.T) { rulesMatchNaiveModel(t, seen) })
	if t.Failed() {
		return
	}
	t.Logf("verdicts seen: %v", seen)
	for status := model.StatusRiskDebitAccountBlocked; status <= model.StatusRiskHeldForReview; status++ {
		if seen[status] == 0 {
			t.Errorf("no transfer ended %s: the generators miss a rule", status)
		}
	}
}

// rulesMatchNaiveModel is one check of the property; it counts the verdicts in seen
// unless seen is nil.
func rulesMatchNaiveModel(t *rapid.T, seen map[model.Status]int) {
	h := newHarness(&testing.T{})
	// Both senders may move every account: ownership is not what this test is about.
	if err := h.ledger.SetGrants([]model.Grant{{Client: sender, Scopes: model.ScopeOperator},
		{Client: other, Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	model0 := &naiveRules{opened: map[uint64]uint64{}}
	for _, accounts := range propertyLedgers {
		for _, account := range accounts {
			model0.opened[account] = h.ledger.LookupAccounts([]model.Uint128{u(account)}, nil)[0].Timestamp
		}
	}
	var rules []model.RiskRule
	id := uint32(1)
	for kind := model.RiskMaxAmount; kind <= model.RiskAnomaly; kind++ {
		for n := rapid.IntRange(0, 2).Draw(t, "count_"+kind.String()); n > 0; n-- {
			rule, ok := genRule(t, id, kind)
			if !ok || conflicts(rules, &rule) {
				continue
			}
			rules = append(rules, rule)
			id++
		}
	}
	statuses := make([]model.Status, len(rules))
	h.now++
	h.ledger.Risk().Set(rules, h.now, statuses)
	for i, status := range statuses {
		if status != model.StatusOK {
			t.Fatalf("rule %+v: %s", rules[i], status)
		}
	}
	model0.rules, model0.setAt = rules, h.now
	steps := rapid.IntRange(1, 120).Draw(t, "steps")
	for step := 0; step < steps; step++ {
		label := fmt.Sprintf("step%d", step)
		switch rapid.IntRange(0, 9).Draw(t, label+".wait") {
		case 0:
			h.advance(model.RiskDayNs)
		case 1, 2, 3:
			h.advance(rapid.Uint64Range(0, 12*second).Draw(t, label+".ns"))
		}
		client := rapid.SampledFrom([]uint64{sender, other}).Draw(t, label+".client")
		events := []model.Transfer{genTransfer(t, label+".a")}
		if rapid.IntRange(0, 5).Draw(t, label+".chain") == 0 {
			events[0].Flags = model.TransferLinked
			events = append(events, genTransfer(t, label+".b"))
		}
		firstTimestamp := h.now + 1
		results := h.send(client, events...)
		want := model0.apply(client, firstTimestamp, events)
		for i := range results {
			got := results[i]
			if seen != nil {
				seen[got.Status]++
			}
			if got.Status != want[i].Status || got.Rule != want[i].Rule ||
				(got.Status.IsRiskRefusal() && got.Risk.Limit != want[i].Risk.Limit) {
				t.Fatalf("%s event %d (%+v by %d): engine %s rule %d limit %s, model %s rule %d limit %s",
					label, i, events[i], client, got.Status, got.Rule, got.Risk.Limit,
					want[i].Status, want[i].Rule, want[i].Risk.Limit)
			}
		}
	}
}

func conflicts(rules []model.RiskRule, rule *model.RiskRule) bool {
	for i := range rules {
		r := &rules[i]
		if r.Kind == rule.Kind && r.Scope == rule.Scope && r.Ledger == rule.Ledger &&
			r.Account == rule.Account && r.Client == rule.Client &&
			(r.Kind != model.RiskBlockedCounterparty || r.Counterparty == rule.Counterparty) {
			return true
		}
	}
	return false
}

func genTransfer(t *rapid.T, label string) model.Transfer {
	ledgerID := uint32(rapid.IntRange(1, 4).Draw(t, label+".ledger")/4 + 1)
	accounts := propertyLedgers[ledgerID]
	debit := rapid.SampledFrom(accounts).Draw(t, label+".debit")
	credit := accounts[(indexOf(accounts, debit)+rapid.IntRange(1, len(accounts)-1).Draw(t,
		label+".credit"))%len(accounts)]
	if rapid.IntRange(0, 15).Draw(t, label+".missing") == 0 {
		credit = 404
	}
	amount := rapid.Uint64Range(1, 250).Draw(t, label+".amount")
	if rapid.IntRange(0, 9).Draw(t, label+".large") == 0 {
		amount *= 20
	}
	return model.Transfer{DebitAccountID: u(debit), CreditAccountID: u(credit),
		Amount: u(amount), Ledger: ledgerID}
}

func indexOf(values []uint64, value uint64) int {
	for i, v := range values {
		if v == value {
			return i
		}
	}
	return -1
}

// apply decides events (one request, at consecutive timestamps) the naive way.
func (m *naiveRules) apply(client uint64, first uint64, events []model.Transfer) []model.TransferResult {
	results := make([]model.TransferResult, len(events))
	chain := len(events) > 1
	mark := len(m.history)
	for i := range events {
		e := &events[i]
		x := created{timestamp: first + uint64(i), client: client, debit: e.DebitAccountID.Lo,
			credit: e.CreditAccountID.Lo, ledger: e.Ledger, amount: e.Amount.Lo}
		result := &results[i]
		if x.credit == 404 {
			result.Status = model.StatusCreditAccountNotFound
		} else {
			result.Status, result.Rule, result.Risk.Limit, x.held = m.decide(&x, chain)
		}
		if result.Status == model.StatusOK || result.Status == model.StatusRiskHeldForReview {
			m.history = append(m.history, x)
			continue
		}
		if chain { // The chain fails: nothing of it was created.
			m.history = m.history[:mark]
			for j := range results {
				if j != i {
					results[j] = model.TransferResult{}
					results[j].Status = model.StatusLinkedEventFailed
				}
			}
			break
		}
	}
	return results
}

// ruleOf returns the rule of kind for an account: its own, else its ledger's.
func (m *naiveRules) ruleOf(kind model.RiskKind, account uint64, ledger uint32) *model.RiskRule {
	var found *model.RiskRule
	for i := range m.rules {
		r := &m.rules[i]
		if r.Kind == kind && r.Scope == model.RiskScopeAccount && r.Account == u(account) {
			return r
		}
		if r.Kind == kind && r.Scope == model.RiskScopeLedger && r.Ledger == ledger {
			found = r
		}
	}
	return found
}

// clientRules returns the client's rules of kind that cover ledger, by id.
func (m *naiveRules) clientRules(kind model.RiskKind, client uint64, ledger uint32) []*model.RiskRule {
	var found []*model.RiskRule
	for i := range m.rules {
		r := &m.rules[i]
		if r.Kind == kind && r.Scope == model.RiskScopeClient && r.Client == client &&
			(r.Ledger == 0 || r.Ledger == ledger) {
			found = append(found, r)
		}
	}
	return found
}

func (m *naiveRules) decide(x *created, chain bool) (model.Status, uint32, model.Uint128, bool) {
	zero := model.Uint128{}
	refuse := func(status model.Status, r *model.RiskRule, limit model.Uint128) (model.Status,
		uint32, model.Uint128, bool) {
		return status, r.ID, limit, false
	}
	if r := m.ruleOf(model.RiskBlocked, x.debit, x.ledger); r != nil {
		return refuse(model.StatusRiskDebitAccountBlocked, r, zero)
	}
	if r := m.ruleOf(model.RiskBlocked, x.credit, x.ledger); r != nil {
		return refuse(model.StatusRiskCreditAccountBlocked, r, zero)
	}
	if rs := m.clientRules(model.RiskBlocked, x.client, x.ledger); len(rs) > 0 {
		return refuse(model.StatusRiskClientBlocked, rs[0], zero)
	}
	for i := range m.rules {
		r := &m.rules[i]
		if r.Kind == model.RiskBlockedCounterparty && r.Scope == model.RiskScopeAccount &&
			r.Account == u(x.debit) && r.Counterparty == u(x.credit) {
			return refuse(model.StatusRiskCounterpartyBlocked, r, zero)
		}
	}
	for i := range m.rules {
		r := &m.rules[i]
		if r.Kind == model.RiskBlockedCounterparty && r.Scope == model.RiskScopeAccount &&
			r.Account == u(x.credit) && r.Counterparty == u(x.debit) {
			return refuse(model.StatusRiskCounterpartyBlocked, r, zero)
		}
	}
	for _, r := range m.clientRules(model.RiskBlockedCounterparty, x.client, x.ledger) {
		if r.Counterparty == u(x.credit) || r.Counterparty == u(x.debit) {
			return refuse(model.StatusRiskCounterpartyBlocked, r, zero)
		}
	}
	maxRules := m.clientRules(model.RiskMaxAmount, x.client, x.ledger)
	if r := m.ruleOf(model.RiskMaxAmount, x.debit, x.ledger); r != nil {
		maxRules = append([]*model.RiskRule{r}, maxRules...)
	}
	for _, r := range maxRules {
		if r.Amount.Lo < x.amount {
			return refuse(model.StatusRiskAmountAboveMaximum, r, r.Amount)
		}
	}
	cooling := m.clientRules(model.RiskCoolingOff, x.client, x.ledger)
	if r := m.ruleOf(model.RiskCoolingOff, x.debit, x.ledger); r != nil {
		cooling = append([]*model.RiskRule{r}, cooling...)
	}
	for _, r := range cooling {
		if r.Amount.Lo < x.amount && x.timestamp-m.opened[x.credit] < r.WindowNs {
			return refuse(model.StatusRiskNewCounterparty, r, r.Amount)
		}
	}
	if r := m.ruleOf(model.RiskVelocity, x.debit, x.ledger); r != nil {
		amount, count := m.window(r, x.timestamp, func(c *created) bool { return c.debit == x.debit })
		if status := windowStatus(r, amount, count, x.amount, model.StatusRiskAccountVelocityAmount,
			model.StatusRiskAccountVelocityCount); status != model.StatusOK {
			return refuse(status, r, windowLimit(r, status, model.StatusRiskAccountVelocityAmount))
		}
	}
	for _, r := range m.clientRules(model.RiskVelocity, x.client, x.ledger) {
		amount, count := m.window(r, x.timestamp, func(c *created) bool {
			return c.client == x.client && (r.Ledger == 0 || r.Ledger == c.ledger)
		})
		if status := windowStatus(r, amount, count, x.amount, model.StatusRiskClientVelocityAmount,
			model.StatusRiskClientVelocityCount); status != model.StatusOK {
			return refuse(status, r, windowLimit(r, status, model.StatusRiskClientVelocityAmount))
		}
	}
	for i := range m.rules {
		r := &m.rules[i]
		if r.Kind == model.RiskDailyAmount && r.Scope == model.RiskScopeLedger && r.Ledger == x.ledger &&
			m.day(x.timestamp, func(c *created) bool { return c.ledger == x.ledger })+x.amount > r.Amount.Lo {
			return refuse(model.StatusRiskLedgerDailyAmount, r, r.Amount)
		}
	}
	for _, r := range m.clientRules(model.RiskDailyAmount, x.client, x.ledger) {
		if m.day(x.timestamp, func(c *created) bool {
			return c.client == x.client && c.ledger == r.Ledger
		})+x.amount > r.Amount.Lo {
			return refuse(model.StatusRiskClientDailyAmount, r, r.Amount)
		}
	}
	held, heldBy, heldLimit := false, uint32(0), zero
	if r := m.ruleOf(model.RiskAnomaly, x.debit, x.ledger); r != nil {
		if limit, anomalous := m.anomalous(r, x.amount, func(c *created) bool { return c.debit == x.debit }); anomalous {
			if r.Action != model.RiskHold || chain {
				return refuse(model.StatusRiskAnomaly, r, limit)
			}
			held, heldBy, heldLimit = true, r.ID, limit
		}
	}
	for _, r := range m.clientRules(model.RiskAnomaly, x.client, x.ledger) {
		if limit, anomalous := m.anomalous(r, x.amount, func(c *created) bool {
			return c.client == x.client && (r.Ledger == 0 || r.Ledger == c.ledger)
		}); anomalous {
			if r.Action != model.RiskHold || chain {
				return refuse(model.StatusRiskAnomaly, r, limit)
			}
			held, heldBy, heldLimit = true, r.ID, limit
		}
	}
	status := model.StatusOK
	if held {
		status = model.StatusRiskHeldForReview
	}
	return status, heldBy, heldLimit, held
}

func windowStatus(r *model.RiskRule, amount, count, transfer uint64, amountStatus,
	countStatus model.Status) model.Status {
	if !r.Amount.IsZero() && amount+transfer > r.Amount.Lo {
		return amountStatus
	}
	if r.Count != 0 && count >= r.Count {
		return countStatus
	}
	return model.StatusOK
}

func windowLimit(r *model.RiskRule, status, amountStatus model.Status) model.Uint128 {
	if status == amountStatus {
		return r.Amount
	}
	return u(r.Count)
}

// window sums the created transfers that match, counted by r, in the window at now.
func (m *naiveRules) window(r *model.RiskRule, now uint64, match func(*created) bool) (uint64, uint64) {
	bucketNs := r.WindowNs / model.RiskWindowBuckets
	var amount, count uint64
	for i := range m.history {
		c := &m.history[i]
		if c.timestamp > m.setAt && match(c) && c.timestamp/bucketNs+model.RiskWindowBuckets > now/bucketNs {
			amount += c.amount
			count++
		}
	}
	return amount, count
}

func (m *naiveRules) day(now uint64, match func(*created) bool) uint64 {
	var amount uint64
	for i := range m.history {
		c := &m.history[i]
		if c.timestamp > m.setAt && match(c) && c.timestamp/model.RiskDayNs == now/model.RiskDayNs {
			amount += c.amount
		}
	}
	return amount
}

// anomalous recomputes the averages of the matching created transfers (not held) in big
// integers and scores amount against them.
func (m *naiveRules) anomalous(r *model.RiskRule, amount uint64, match func(*created) bool) (model.Uint128, bool) {
	mean, deviation := new(big.Int), new(big.Int)
	count := 0
	toward := func(value, target *big.Int) *big.Int {
		step := new(big.Int).Sub(target, value)
		negative := step.Sign() < 0
		step.Abs(step).Rsh(step, uint(r.Shift))
		if negative {
			step.Neg(step)
		}
		return new(big.Int).Add(value, step)
	}
	for i := range m.history {
		c := &m.history[i]
		if c.timestamp <= m.setAt || c.held || !match(c) {
			continue
		}
		a := new(big.Int).SetUint64(c.amount)
		if count == 0 {
			mean, deviation = a, new(big.Int)
		} else {
			difference := new(big.Int).Abs(new(big.Int).Sub(a, mean))
			mean, deviation = toward(mean, a), toward(deviation, difference)
		}
		count++
	}
	if count < int(r.Warmup) {
		return model.Uint128{}, false
	}
	floor := new(big.Int).Rsh(mean, 4)
	if deviation.Cmp(floor) < 0 {
		deviation = floor
	}
	if deviation.Sign() == 0 {
		deviation = big.NewInt(1)
	}
	limit := new(big.Int).Mul(deviation, big.NewInt(int64(r.Threshold)))
	limit.Rsh(limit, 4).Add(limit, mean)
	return u(limit.Uint64()), new(big.Int).SetUint64(amount).Cmp(limit) > 0
}

var _ = ledger.New
