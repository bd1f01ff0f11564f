package risk_test

// The systematic pass over core/risk (tools/mutation/RESULTS.md): every refusal, result
// code and bound at its exact value and one past it, driven through the engine's own API
// (Set, Begin, Evaluate, Commit, chains, snapshots) over a fake account table, so that
// timestamps, indexes and counts are exact.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
	"sequent/core/risk"
)

var maxAmount = model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

// accountsPerLedger lays the rig's accounts out: ids 1..999 are on ledger 1, 1001..1999
// on ledger 2, and so on; account id n has index n−1.
const accountsPerLedger = 1000

// rig is an engine over a fake account table of ids 1..accounts.
type rig struct {
	t        *testing.T
	e        *risk.Engine
	accounts uint32
	now      uint64 // The timestamp of rule changes.
}

func newRig(t *testing.T, accounts uint32) *rig {
	t.Helper()
	return &rig{t: t, e: risk.New(tableResolver(accounts)), accounts: accounts, now: 1}
}

func tableResolver(accounts uint32) risk.AccountResolver {
	return func(id model.Uint128) (uint32, uint32, bool) {
		if id.Hi != 0 || id.Lo == 0 || id.Lo > uint64(accounts) {
			return 0, 0, false
		}
		return uint32(id.Lo - 1), ledgerOf(id.Lo), true
	}
}

func ledgerOf(account uint64) uint32 { return uint32((account-1)/accountsPerLedger) + 1 }

// set puts rules in force and fails unless each is accepted.
func (r *rig) set(rules ...model.RiskRule) {
	r.t.Helper()
	statuses := r.setStatuses(rules...)
	for i, status := range statuses {
		if status != model.StatusOK {
			r.t.Fatalf("rule %d: %s", rules[i].ID, status)
		}
	}
}

func (r *rig) setStatuses(rules ...model.RiskRule) []model.Status {
	statuses := make([]model.Status, len(rules))
	r.now++
	r.e.Set(rules, r.now, statuses)
	return statuses
}

func (r *rig) remove(ids ...uint32) []model.Status {
	statuses := make([]model.Status, len(ids))
	r.e.Remove(ids, statuses)
	return statuses
}

// payment is one transfer of the rig: the ledger is the debit account's.
type payment struct {
	client        uint64
	debit, credit uint64
	amount        model.Uint128
	at            uint64 // Timestamp.
	created       uint64 // The credit account's creation time.
	inChain       bool
	ledger        uint32 // 0: the debit account's.
}

func (p payment) transfer() *risk.Transfer {
	return &risk.Transfer{DebitIndex: uint32(p.debit - 1), CreditIndex: uint32(p.credit - 1),
		DebitID: u(p.debit), CreditID: u(p.credit), CreditCreated: p.created,
		Ledger: cmp.Or(p.ledger, ledgerOf(p.debit)), Amount: p.amount, Timestamp: p.at, InChain: p.inChain}
}

// judge evaluates p without counting it.
func (r *rig) judge(p payment) (model.Status, model.RiskDetail) {
	var detail model.RiskDetail
	r.e.Begin(p.client)
	return r.e.Evaluate(p.transfer(), &detail), detail
}

// pay evaluates p and, as the ledger does once it created the transfer, commits it when
// it passed or was held.
func (r *rig) pay(p payment) (model.Status, model.RiskDetail) {
	var detail model.RiskDetail
	r.e.Begin(p.client)
	status := r.e.Evaluate(p.transfer(), &detail)
	if status == model.StatusOK || status == model.StatusRiskHeldForReview {
		r.e.Commit()
	}
	return status, detail
}

// expect pays and checks the status and, unless rule is 0, the rule the detail names.
func (r *rig) expect(p payment, want model.Status, rule uint32) model.RiskDetail {
	r.t.Helper()
	status, detail := r.pay(p)
	if status != want || (rule != 0 && detail.Rule != rule) {
		r.t.Fatalf("%+v: %s (rule %d), want %s (rule %d); detail %+v", p, status, detail.Rule,
			want, rule, detail)
	}
	return detail
}

func (r *rig) snapshot() []byte {
	r.t.Helper()
	var section bytes.Buffer
	if _, err := r.e.Snapshot().WriteTo(&section); err != nil {
		r.t.Fatal(err)
	}
	return section.Bytes()
}

func maxAmountRule(id uint32, ledger uint32, amount uint64) model.RiskRule {
	return model.RiskRule{ID: id, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger,
		Ledger: ledger, Amount: u(amount)}
}

// TestRulesMaxIsExact: exactly RulesMax rules may be in force; one more is refused,
// while replacing one of them is not; a snapshot of RulesMax rules restores, a section
// claiming one more is refused even when every record is sound.
func TestRulesMaxIsExact(t *testing.T) {
	r := newRig(t, 10)
	rules := make([]model.RiskRule, risk.RulesMax)
	for i := range rules {
		rules[i] = maxAmountRule(uint32(i+1), uint32(i+1), 100)
	}
	r.set(rules...)
	if got := r.setStatuses(maxAmountRule(risk.RulesMax+1, risk.RulesMax+1, 5))[0]; got != model.StatusRiskRulesLimitReached {
		t.Fatalf("rule %d of %d: %s, want %s", risk.RulesMax+1, risk.RulesMax, got,
			model.StatusRiskRulesLimitReached)
	}
	r.set(maxAmountRule(7, 7, 50)) // Replacing at the bound.
	r.expect(payment{debit: 6001, credit: 6002, amount: u(51)}, model.StatusRiskAmountAboveMaximum, 7)
	r.expect(payment{debit: 6001, credit: 6002, amount: u(50)}, model.StatusOK, 0)
	if got := len(r.e.Rules(0, risk.RulesMax+10, nil)); got != risk.RulesMax {
		t.Fatalf("%d rules in force, want %d", got, risk.RulesMax)
	}

	section := r.snapshot()
	if _, err := risk.Restore(bytes.NewReader(section), tableResolver(10), 10); err != nil {
		t.Fatalf("a section of RulesMax rules: %v", err)
	}
	// One more sound record (id and ledger 5000, the last rule's generation), and the
	// header counting it.
	const ruleRecord = 280
	rulesEnd := 32 + risk.RulesMax*ruleRecord
	extra := bytes.Clone(section[rulesEnd-ruleRecord : rulesEnd])
	binary.LittleEndian.PutUint32(extra[0:], 5000)
	binary.LittleEndian.PutUint32(extra[8:], 5000)
	over := append(append(bytes.Clone(section[:rulesEnd]), extra...), section[rulesEnd:]...)
	binary.LittleEndian.PutUint32(over[12:], risk.RulesMax+1)
	if _, err := risk.Restore(bytes.NewReader(over), tableResolver(10), 10); !errors.Is(err, risk.ErrSnapshotInvalid) {
		t.Fatalf("a section of RulesMax+1 rules: %v, want ErrSnapshotInvalid", err)
	}
	r.remove(4096)
	r.set(maxAmountRule(risk.RulesMax+1, risk.RulesMax+1, 5)) // Room again.
}

// TestPerClientBoundCountsOnlyThatClient: a client holds RulesPerClientMax rules; the
// next is refused, but replacing one of them is not, and another client's rules, or
// rules of other scopes, do not count against it.
func TestPerClientBoundCountsOnlyThatClient(t *testing.T) {
	r := newRig(t, 10)
	clientRule := func(id uint32, client uint64, ledger uint32) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskMaxAmount, Scope: model.RiskScopeClient,
			Client: client, Ledger: ledger, Amount: u(10)}
	}
	r.set(maxAmountRule(1, 1, 5), model.RiskRule{ID: 2, Kind: model.RiskBlocked,
		Scope: model.RiskScopeAccount, Account: u(3)})
	for i := uint32(0); i < risk.RulesPerClientMax; i++ {
		r.set(clientRule(100+i, 7, 1+i))
	}
	cases := []struct {
		name string
		rule model.RiskRule
		want model.Status
	}{
		{"one more for the client", clientRule(200, 7, 99), model.StatusRiskRulesLimitReached},
		{"replacing one of the client's", clientRule(100, 7, 98), model.StatusOK},
		{"another client", clientRule(201, 8, 1), model.StatusOK},
		{"another scope", maxAmountRule(202, 2, 5), model.StatusOK},
	}
	for _, c := range cases {
		if got := r.setStatuses(c.rule)[0]; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestConflictNeedsTheSameTarget: a rule conflicts with another id only when kind,
// scope, ledger, account, client (and for blocked_counterparty the counterparty) are all
// the same; a rule differing in any one of them is accepted.
func TestConflictNeedsTheSameTarget(t *testing.T) {
	r := newRig(t, 10)
	velocity := func(id uint32, client uint64, ledger uint32) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
			Client: client, Ledger: ledger, WindowNs: 4 * second, Count: 3}
	}
	counterparty := func(id uint32, account, other uint64) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskBlockedCounterparty,
			Scope: model.RiskScopeAccount, Account: u(account), Counterparty: u(other)}
	}
	accountMax := func(id uint32, account uint64) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskMaxAmount, Scope: model.RiskScopeAccount,
			Account: u(account), Amount: u(9)}
	}
	r.set(maxAmountRule(1, 1, 100), velocity(2, 7, 1), counterparty(3, 1, 2), accountMax(4, 1))
	cases := []struct {
		name string
		rule model.RiskRule
		want model.Status
	}{
		{"ledger rule, same ledger", maxAmountRule(10, 1, 5), model.StatusRiskRuleConflict},
		{"ledger rule, another ledger", maxAmountRule(11, 2, 5), model.StatusOK},
		{"ledger rule, another kind", model.RiskRule{ID: 12, Kind: model.RiskBlocked,
			Scope: model.RiskScopeLedger, Ledger: 1}, model.StatusOK},
		{"client rule, same client and ledger", velocity(13, 7, 1), model.StatusRiskRuleConflict},
		{"client rule, another client", velocity(14, 8, 1), model.StatusOK},
		{"client rule, another ledger", velocity(15, 7, 2), model.StatusOK},
		{"client rule, every ledger", velocity(16, 7, 0), model.StatusOK},
		{"counterparty, the same one", counterparty(17, 1, 2), model.StatusRiskRuleConflict},
		{"counterparty, another one", counterparty(18, 1, 3), model.StatusOK},
		{"counterparty, another account", counterparty(19, 2, 1), model.StatusOK},
		{"account rule, same account", accountMax(20, 1), model.StatusRiskRuleConflict},
		{"account rule, another account", accountMax(21, 2), model.StatusOK},
	}
	for _, c := range cases {
		if got := r.setStatuses(c.rule)[0]; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestSetRemoveAndListing: Set stamps each accepted rule with its timestamp; Remove
// reports each id; Rules pages by afterID whether or not afterID is a rule's, and stops
// at exactly limit.
func TestSetRemoveAndListing(t *testing.T) {
	r := newRig(t, 10)
	statuses := make([]model.Status, 3)
	r.e.Set([]model.RiskRule{maxAmountRule(10, 1, 5), maxAmountRule(20, 2, 5),
		maxAmountRule(30, 3, 5)}, 12345, statuses)
	for i, status := range statuses {
		if status != model.StatusOK {
			t.Fatalf("rule %d: %s", i, status)
		}
	}
	all := r.e.Rules(0, 3, nil)
	if len(all) != 3 || all[0].ID != 10 || all[2].ID != 30 {
		t.Fatalf("rules %+v", all)
	}
	for _, rule := range all {
		if rule.Timestamp != 12345 {
			t.Fatalf("rule %d stamped %d, want 12345", rule.ID, rule.Timestamp)
		}
	}
	if page := r.e.Rules(15, 1, nil); len(page) != 1 || page[0].ID != 20 {
		t.Fatalf("after 15, limit 1: %+v", page)
	}
	if page := r.e.Rules(20, 5, nil); len(page) != 1 || page[0].ID != 30 {
		t.Fatalf("after 20: %+v", page)
	}
	if page := r.e.Rules(30, 5, nil); len(page) != 0 {
		t.Fatalf("after the last: %+v", page)
	}
	if page := r.e.Rules(0, 0, nil); len(page) != 0 {
		t.Fatalf("limit 0: %+v", page)
	}
	got := r.remove(20, 21, 10)
	if got[0] != model.StatusOK || got[1] != model.StatusRiskRuleNotFound || got[2] != model.StatusOK {
		t.Fatalf("remove: %v", got)
	}
	if rules := r.e.Rules(0, 10, nil); len(rules) != 1 || rules[0].ID != 30 {
		t.Fatalf("after removal: %+v", rules)
	}
	if !r.e.Active() {
		t.Fatal("a rule is in force: the engine must be active")
	}
	r.remove(30)
	if r.e.Active() {
		t.Fatal("no rule is in force: the engine must not be active")
	}
	r.expect(payment{debit: 1, credit: 2, amount: u(1000)}, model.StatusOK, 0)
}

// TestReplacedOrRemovedRulesStartEmpty: a rule set again under its id, or removed and
// set again, counts from zero: per-account windows and averages (stamped by
// generation) and the client's own window.
func TestReplacedOrRemovedRulesStartEmpty(t *testing.T) {
	r := newRig(t, 10)
	account := model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * second, Count: 1}
	client := model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
		Client: 7, WindowNs: 4 * second, Count: 2}
	anomaly := model.RiskRule{ID: 3, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
		Account: u(5), Threshold: 16, Warmup: 1, Shift: 1}
	r.set(account, client, anomaly)
	at := 100 * second
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at},
		model.StatusRiskAccountVelocityCount, 1)
	r.expect(payment{client: 7, debit: 2, credit: 3, amount: u(1), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 3, credit: 4, amount: u(1), at: at},
		model.StatusRiskClientVelocityCount, 2)
	r.expect(payment{debit: 5, credit: 2, amount: u(100), at: at}, model.StatusOK, 0)
	r.expect(payment{debit: 5, credit: 2, amount: u(1000), at: at}, model.StatusRiskAnomaly, 3)

	r.set(account, client, anomaly) // The same rules again: new counters.
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 2, credit: 3, amount: u(1), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 3, credit: 4, amount: u(1), at: at},
		model.StatusRiskClientVelocityCount, 2)
	r.expect(payment{debit: 5, credit: 2, amount: u(1000), at: at}, model.StatusOK, 0) // Warm-up.

	r.remove(1, 2)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at}, model.StatusOK, 0)
	r.set(account)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1), at: at},
		model.StatusRiskAccountVelocityCount, 1)
}

// TestWindowEdges: a window of four one-second buckets. A transfer at the first
// nanosecond of a bucket sees the oldest bucket gone, at the last nanosecond before it
// still counted; count and amount limits pass at their exact values; a zero amount limit
// is no limit; Until is when the newest bucket ends. The same for a client's window.
func TestWindowEdges(t *testing.T) {
	for _, scope := range []model.RiskScope{model.RiskScopeAccount, model.RiskScopeClient} {
		countStatus, amountStatus := model.StatusRiskAccountVelocityCount, model.StatusRiskAccountVelocityAmount
		rule := model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: scope, Account: u(1),
			WindowNs: 4 * second, Count: 2}
		amountRule := model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
			Account: u(2), WindowNs: 4 * second, Amount: u(100)}
		if scope == model.RiskScopeClient {
			countStatus, amountStatus = model.StatusRiskClientVelocityCount, model.StatusRiskClientVelocityAmount
			rule.Account, rule.Client = model.Uint128{}, 7
			amountRule.Account, amountRule.Client, amountRule.Scope, amountRule.Ledger =
				model.Uint128{}, 8, model.RiskScopeClient, 1
		}
		r := newRig(t, 10)
		r.set(rule, amountRule)
		start := 10 * second
		// Count: two in bucket 10, then bucket 13's last nanosecond still sees them.
		r.expect(payment{client: 7, debit: 1, credit: 3, amount: u(1_000_000), at: start}, model.StatusOK, 0)
		r.expect(payment{client: 7, debit: 1, credit: 3, amount: u(1), at: start + second/2}, model.StatusOK, 0)
		d := r.expect(payment{client: 7, debit: 1, credit: 3, amount: u(1), at: start + 4*second - 1},
			countStatus, 1)
		if d.Limit != u(2) || d.Current != u(2) || d.Until != start+4*second {
			t.Fatalf("%s count refusal detail %+v", scope, d)
		}
		r.expect(payment{client: 7, debit: 1, credit: 3, amount: u(1), at: start + 4*second}, model.StatusOK, 0)

		// Amount: exactly the limit passes, one more is refused; the next bucket's start
		// keeps the window (three buckets on), the fourth drops it.
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(60), at: start}, model.StatusOK, 0)
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(40), at: start + second}, model.StatusOK, 0)
		d = r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(1), at: start + 3*second},
			amountStatus, 2)
		if d.Limit != u(100) || d.Current != u(100) || d.Amount != u(1) || d.Until != start+4*second {
			t.Fatalf("%s amount refusal detail %+v", scope, d)
		}
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(61), at: start + 4*second},
			amountStatus, 2)
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(60), at: start + 4*second}, model.StatusOK, 0)
		// One bucket on: bucket 15 takes the slot of bucket 11 (40), emptied first.
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(40), at: start + 5*second}, model.StatusOK, 0)
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(1), at: start + 5*second}, amountStatus, 2)
		// Four buckets on from the last transfer: everything left.
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(100), at: start + 9*second}, model.StatusOK, 0)
		r.expect(payment{client: 8, debit: 2, credit: 3, amount: u(1), at: start + 9*second}, amountStatus, 2)
	}
}

// TestWindowSlidesOneBucketAtATime: a transfer in each of four consecutive buckets, then
// one in each following bucket: each time exactly the oldest bucket has left.
func TestWindowSlidesOneBucketAtATime(t *testing.T) {
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * second, Amount: u(10)})
	start := 20 * second
	amounts := []uint64{1, 2, 3, 4}
	for i, amount := range amounts {
		r.expect(payment{debit: 1, credit: 2, amount: u(amount), at: start + uint64(i)*second}, model.StatusOK, 0)
	}
	for bucket := uint64(4); bucket < 12; bucket++ {
		at := start + bucket*second
		// The window holds the three buckets before: room for 10 minus their sum.
		held := amounts[len(amounts)-3] + amounts[len(amounts)-2] + amounts[len(amounts)-1]
		d := r.expect(payment{debit: 1, credit: 2, amount: u(10 - held + 1), at: at},
			model.StatusRiskAccountVelocityAmount, 1)
		if d.Current != u(held) {
			t.Fatalf("bucket %d: window holds %s, want %d", bucket, d.Current, held)
		}
		r.expect(payment{debit: 1, credit: 2, amount: u(10 - held), at: at}, model.StatusOK, 0)
		amounts = append(amounts, 10-held)
	}
}

// TestDailyEdges: a day is [n×RiskDayNs, (n+1)×RiskDayNs): the last nanosecond still
// counts in it, the next starts a new total; the limit passes at its exact value; Until
// is the next day's start. Ledger and client totals alike.
func TestDailyEdges(t *testing.T) {
	r := newRig(t, 2000)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
		Ledger: 1, Amount: u(100)},
		model.RiskRule{ID: 2, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient,
			Client: 7, Ledger: 2, Amount: u(50)})
	day := uint64(20_000) * model.RiskDayNs
	next := day + model.RiskDayNs
	r.expect(payment{debit: 1, credit: 2, amount: u(70), at: day}, model.StatusOK, 0)
	r.expect(payment{debit: 3, credit: 2, amount: u(30), at: next - 2}, model.StatusOK, 0)
	d := r.expect(payment{debit: 4, credit: 2, amount: u(1), at: next - 1}, model.StatusRiskLedgerDailyAmount, 1)
	if d.Limit != u(100) || d.Current != u(100) || d.Until != next {
		t.Fatalf("ledger daily detail %+v", d)
	}
	r.expect(payment{debit: 4, credit: 2, amount: u(100), at: next}, model.StatusOK, 0)

	r.expect(payment{client: 7, debit: 1001, credit: 1002, amount: u(50), at: next - 1}, model.StatusOK, 0)
	d = r.expect(payment{client: 7, debit: 1003, credit: 1002, amount: u(1), at: next - 1},
		model.StatusRiskClientDailyAmount, 2)
	if d.Limit != u(50) || d.Current != u(50) || d.Until != next {
		t.Fatalf("client daily detail %+v", d)
	}
	r.expect(payment{client: 8, debit: 1003, credit: 1002, amount: u(50), at: next - 1}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 1003, credit: 1002, amount: u(50), at: next}, model.StatusOK, 0)
}

// TestCoolingOffEdges: a payee created at c receives more than the small amount from
// c + period on, not a nanosecond earlier; exactly the small amount passes at any time;
// the detail names the creation time and when the period ends. A client's rule alike.
func TestCoolingOffEdges(t *testing.T) {
	for _, scope := range []model.RiskScope{model.RiskScopeLedger, model.RiskScopeClient} {
		rule := model.RiskRule{ID: 1, Kind: model.RiskCoolingOff, Scope: scope, Ledger: 1,
			WindowNs: 10 * second, Amount: u(10)}
		if scope == model.RiskScopeClient {
			rule.Client = 7
		}
		r := newRig(t, 10)
		r.set(rule)
		created := 50 * second
		payee := func(amount, at uint64) payment {
			return payment{client: 7, debit: 1, credit: 2, amount: u(amount), at: at, created: created}
		}
		r.expect(payee(10, created), model.StatusOK, 0)
		d := r.expect(payee(11, created+10*second-1), model.StatusRiskNewCounterparty, 1)
		if d.Limit != u(10) || d.Current != u(created) || d.Amount != u(11) || d.Until != created+10*second {
			t.Fatalf("%s cooling-off detail %+v", scope, d)
		}
		r.expect(payee(11, created+10*second), model.StatusOK, 0)
	}
}

// TestZeroDeviationFloorIsOne: an account whose amounts never varied and whose mean is
// below sixteen (so a sixteenth of it rounds to zero) still gets a deviation of one: at
// threshold 1.0 it may pay one unit above its mean, not two.
func TestZeroDeviationFloorIsOne(t *testing.T) {
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
		Account: u(1), Threshold: 16, Warmup: 2, Shift: 2})
	r.expect(payment{debit: 1, credit: 2, amount: u(10)}, model.StatusOK, 0)
	r.expect(payment{debit: 1, credit: 2, amount: u(10)}, model.StatusOK, 0)
	d := r.expect(payment{debit: 1, credit: 2, amount: u(12)}, model.StatusRiskAnomaly, 1)
	if d.Limit != u(11) || d.Current != u(10) {
		t.Fatalf("detail %+v: want limit 11 over mean 10", d)
	}
	r.expect(payment{debit: 1, credit: 2, amount: u(11)}, model.StatusOK, 0)
}

// referenceAverages is the anomaly rule's arithmetic as PROTOCOL.md states it, in
// unbounded integers: each amount moves the mean toward it by the difference shifted
// right by Shift (truncating), and the mean absolute deviation toward |amount − mean|
// the same way; the limit is mean + Threshold/16 × max(deviation, mean/16, 1), rounded
// down and capped at 2^128 − 1.
type referenceAverages struct {
	count           int
	mean, deviation *big.Int
}

var u128Max = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

func moveTowardBig(value, target *big.Int, shift uint) *big.Int {
	step := new(big.Int).Sub(target, value)
	negative := step.Sign() < 0
	step.Abs(step).Rsh(step, shift)
	if negative {
		return step.Sub(value, step)
	}
	return step.Add(value, step)
}

func (a *referenceAverages) update(amount *big.Int, shift uint) {
	if a.count == 0 {
		a.mean, a.deviation = new(big.Int).Set(amount), new(big.Int)
	} else {
		difference := new(big.Int).Sub(amount, a.mean)
		difference.Abs(difference)
		a.mean = moveTowardBig(a.mean, amount, shift)
		a.deviation = moveTowardBig(a.deviation, difference, shift)
	}
	a.count++
}

func (a *referenceAverages) limit(threshold uint32) *big.Int {
	deviation := new(big.Int).Set(a.deviation)
	if floor := new(big.Int).Rsh(a.mean, 4); deviation.Cmp(floor) < 0 {
		deviation = floor
	}
	if deviation.Sign() == 0 {
		deviation.SetInt64(1)
	}
	product := deviation.Mul(deviation, big.NewInt(int64(threshold)))
	if product.Cmp(u128Max) > 0 {
		return new(big.Int).Set(u128Max)
	}
	limit := product.Rsh(product, 4).Add(product, a.mean)
	if limit.Cmp(u128Max) > 0 {
		return new(big.Int).Set(u128Max)
	}
	return limit
}

func toBig(x model.Uint128) *big.Int { return x.Big() }

func fromBig(x *big.Int) model.Uint128 {
	var b [16]byte
	x.FillBytes(b[:])
	return model.Uint128{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}
}

// TestAveragesMatchTheReference feeds amounts of every magnitude (0 to 2^128 − 1, in
// 64-bit and 128-bit ranges, rising and falling) to anomaly rules of several weights and
// thresholds, account and client scope, and checks after each one the verdict and the
// limit and mean the engine reports against referenceAverages.
func TestAveragesMatchTheReference(t *testing.T) {
	configs := []struct {
		threshold uint32
		warmup    uint16
		shift     uint8
	}{{16, 1, 1}, {64, 2, 3}, {^uint32(0), 1, 16}, {1, 3, 2}, {200, 1, 4}}
	random := rand.New(rand.NewPCG(20261217, 1))
	amounts := []model.Uint128{maxAmount, u(1000), u(0), {Hi: 1}, {Hi: 3}, {Lo: 5, Hi: 2}, u(7),
		maxAmount, {Hi: 1 << 63}, u(^uint64(0)), {Lo: 1, Hi: 1}, u(1 << 40)}
	for range 300 {
		bits := random.IntN(129)
		var x model.Uint128
		switch {
		case bits > 64:
			x = model.Uint128{Lo: random.Uint64(), Hi: random.Uint64() >> (128 - bits)}
		case bits > 0:
			x = model.Uint128{Lo: random.Uint64() >> (64 - bits)}
		}
		amounts = append(amounts, x)
	}
	refused := 0
	for _, scope := range []model.RiskScope{model.RiskScopeAccount, model.RiskScopeClient} {
		for _, c := range configs {
			r := newRig(t, 10)
			rule := model.RiskRule{ID: 1, Kind: model.RiskAnomaly, Scope: scope, Account: u(1),
				Threshold: c.threshold, Warmup: c.warmup, Shift: c.shift}
			if scope == model.RiskScopeClient {
				rule.Account, rule.Client = model.Uint128{}, 7
			}
			r.set(rule)
			reference := &referenceAverages{}
			learnt := 0
			for i, amount := range amounts {
				p := payment{client: 7, debit: 1, credit: 2, amount: amount, at: uint64(i)}
				probe := p
				probe.amount = maxAmount
				status, detail := r.judge(probe)
				scored := reference.count >= int(c.warmup)
				var limit *big.Int
				if scored {
					limit = reference.limit(c.threshold)
				}
				want := model.StatusOK
				if scored && limit.Cmp(u128Max) < 0 {
					want = model.StatusRiskAnomaly
				}
				if status != want {
					t.Fatalf("%s %+v amount %d (%s): probe %s, want %s", scope, c, i, amount, status, want)
				}
				if want == model.StatusRiskAnomaly &&
					(detail.Limit != fromBig(limit) || detail.Current != fromBig(reference.mean)) {
					t.Fatalf("%s %+v amount %d (%s): limit %s mean %s, want %s and %s", scope, c, i,
						amount, detail.Limit, detail.Current, limit, reference.mean)
				}
				want = model.StatusOK
				if scored && toBig(amount).Cmp(limit) > 0 {
					want = model.StatusRiskAnomaly
				}
				if status, _ := r.pay(p); status != want {
					t.Fatalf("%s %+v amount %d (%s): %s, want %s", scope, c, i, amount, status, want)
				}
				if want == model.StatusOK {
					reference.update(toBig(amount), uint(c.shift))
					learnt++
				}
			}
			if learnt < 10 {
				t.Fatalf("%s %+v: %d of %d amounts learnt: the sequence tests too little",
					scope, c, learnt, len(amounts))
			}
			refused += len(amounts) - learnt
		}
	}
	if refused < 100 {
		t.Fatalf("only %d amounts refused: the sequence does not test the limits", refused)
	}
}

// TestHoldsAndTheirCounters: a client's hold rule holds an anomalous transfer (a
// refusal inside a chain); a held transfer counts in windows and daily totals (it is
// created, pending) but in no averages, the account's or the client's; a refusal by the
// account's rule wins over the client's hold.
func TestHoldsAndTheirCounters(t *testing.T) {
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskAnomaly, Scope: model.RiskScopeClient, Client: 7,
		Threshold: 16, Warmup: 1, Shift: 1, Action: model.RiskHold},
		model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount, Account: u(1),
			Threshold: 16 * 1000, Warmup: 1, Shift: 1},
		model.RiskRule{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount, Account: u(1),
			WindowNs: 4 * second, Count: 3},
		model.RiskRule{ID: 4, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, Amount: u(100_000)})
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(100)}, model.StatusOK, 0)
	// Client limit 100 + max(0, 6, 1) = 106; the account's is far above.
	d := r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(107)}, model.StatusRiskHeldForReview, 1)
	if d.Limit != u(106) || d.Current != u(100) || d.Action != model.RiskHold {
		t.Fatalf("held detail %+v", d)
	}
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(107), inChain: true}, model.StatusRiskAnomaly, 1)
	// Neither average learnt 107: the account's limit is still 100 + 1000 × 6 (mean 103
	// and deviation 3 had it learnt it: 6103), the client's 106 (below).
	if status, d := r.judge(payment{client: 7, debit: 1, credit: 2, amount: u(6101)}); status != model.StatusRiskAnomaly ||
		d.Rule != 2 || d.Current != u(100) || d.Limit != u(6100) {
		t.Fatalf("account averages after a hold: %s %+v", status, d)
	}
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(106)}, model.StatusOK, 0)
	// The held transfer took a place in the window: 100, 107 held, 106; the fourth is refused.
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(1)}, model.StatusRiskAccountVelocityCount, 3)
	// And its amount the client's day: 100 + 107 + 106 = 313.
	r.remove(3)
	d = r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(100_000 - 313 + 1)},
		model.StatusRiskClientDailyAmount, 4)
	if d.Current != u(313) {
		t.Fatalf("client day holds %s, want 313", d.Current)
	}
	// An account rule's refusal comes before the client's hold.
	r.set(model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount, Account: u(1),
		Threshold: 1, Warmup: 1, Shift: 1})
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(100)}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(200)}, model.StatusRiskAnomaly, 2)
}

// TestAccountHoldWithClientRules: the account's hold rule holds; the client's anomaly
// rule, which passed the amount, does not learn it either, while the client's window
// counts it.
func TestAccountHoldWithClientRules(t *testing.T) {
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount, Account: u(1),
		Threshold: 16, Warmup: 1, Shift: 1, Action: model.RiskHold},
		model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeClient, Client: 7,
			Threshold: 16 * 100, Warmup: 1, Shift: 1},
		model.RiskRule{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, WindowNs: 4 * second, Amount: u(10_000)})
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(100)}, model.StatusOK, 0)
	r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(500)}, model.StatusRiskHeldForReview, 1)
	r.remove(1)
	// Mean 100, deviation floored at 6: limit 100 + 100 × 6 = 700 (had it learnt 500, the
	// limit would be 300 + 100 × 200).
	if status, d := r.judge(payment{client: 7, debit: 1, credit: 2, amount: u(701)}); status != model.StatusRiskAnomaly ||
		d.Rule != 2 || d.Current != u(100) || d.Limit != u(700) {
		t.Fatalf("client averages after a hold: %s %+v", status, d)
	}
	d := r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(9401)}, model.StatusRiskClientVelocityAmount, 3)
	if d.Current != u(600) {
		t.Fatalf("client window holds %s, want 600", d.Current)
	}
}

// TestBlockingPrecedenceAndFilters: of several blocking rules, the debit account's
// wins, then the credit account's, then the client's, then counterparties (the debit
// account's list, the credit account's, the client's, which matches either side); a
// client's rule filtered to another ledger blocks nothing on this one.
func TestBlockingPrecedenceAndFilters(t *testing.T) {
	r := newRig(t, 2000)
	blocked := func(id uint32, account uint64) model.RiskRule {
		return model.RiskRule{ID: id, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(account)}
	}
	r.set(blocked(1, 1), blocked(2, 2),
		model.RiskRule{ID: 3, Kind: model.RiskBlocked, Scope: model.RiskScopeClient, Client: 7},
		model.RiskRule{ID: 4, Kind: model.RiskBlocked, Scope: model.RiskScopeClient, Client: 8, Ledger: 2},
		model.RiskRule{ID: 5, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeAccount,
			Account: u(3), Counterparty: u(4)},
		model.RiskRule{ID: 6, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeAccount,
			Account: u(5), Counterparty: u(3)},
		model.RiskRule{ID: 7, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeClient,
			Client: 9, Ledger: 1, Counterparty: u(6)},
		model.RiskRule{ID: 8, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeAccount,
			Account: u(3), Counterparty: u(5)})
	amount := u(5)
	cases := []struct {
		client        uint64
		debit, credit uint64
		ledger        uint32 // 0: the debit account's.
		want          model.Status
		rule          uint32
	}{
		{7, 1, 2, 0, model.StatusRiskDebitAccountBlocked, 1},
		{7, 2, 1, 0, model.StatusRiskDebitAccountBlocked, 2},
		{7, 3, 2, 0, model.StatusRiskCreditAccountBlocked, 2},
		{7, 3, 4, 0, model.StatusRiskClientBlocked, 3},
		{8, 3, 4, 0, model.StatusRiskCounterpartyBlocked, 5}, // Client 8's block is for ledger 2.
		{8, 4, 3, 0, model.StatusRiskCounterpartyBlocked, 5}, // The credit account's list.
		{8, 3, 5, 0, model.StatusRiskCounterpartyBlocked, 8}, // Both lists name it: the debit's first.
		{8, 5, 3, 0, model.StatusRiskCounterpartyBlocked, 6},
		{8, 4, 6, 0, model.StatusOK, 0},
		{9, 6, 7, 0, model.StatusRiskCounterpartyBlocked, 7}, // The client's, as the payer.
		{9, 7, 6, 0, model.StatusRiskCounterpartyBlocked, 7}, // The client's, as the payee.
		{9, 7, 8, 0, model.StatusOK, 0},                      // Neither side is 6.
		{9, 6, 7, 2, model.StatusOK, 0},                      // Client 9's rule is for ledger 1.
		{8, 1001, 1002, 0, model.StatusRiskClientBlocked, 4}, // Ledger 2.
	}
	for _, c := range cases {
		status, detail := r.judge(payment{client: c.client, debit: c.debit, credit: c.credit,
			ledger: c.ledger, amount: amount})
		if status != c.want || (c.rule != 0 && (detail.Rule != c.rule || detail.Amount != amount)) {
			t.Errorf("client %d, %d → %d: %s (detail %+v), want %s by rule %d", c.client, c.debit,
				c.credit, status, detail, c.want, c.rule)
		}
	}
}

// TestBlockedForPosts: Blocked, the check of a post, passes everything while no rule
// blocks, and otherwise names the blocking rule of the debit account, the credit
// account or the client (set by Begin), filtered by ledger.
func TestBlockedForPosts(t *testing.T) {
	r := newRig(t, 2000)
	r.set(maxAmountRule(1, 1, 1))
	var detail model.RiskDetail
	if status, rule := r.e.Blocked(0, 1, 1, &detail); status != model.StatusOK || rule != 0 {
		t.Fatalf("no blocking rule: %s, rule %d", status, rule)
	}
	r.set(model.RiskRule{ID: 2, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: u(3)},
		model.RiskRule{ID: 3, Kind: model.RiskBlocked, Scope: model.RiskScopeClient, Client: 7, Ledger: 2})
	cases := []struct {
		client        uint64
		debit, credit uint32 // Indexes.
		ledger        uint32
		want          model.Status
		rule          uint32
	}{
		{7, 2, 0, 1, model.StatusRiskDebitAccountBlocked, 2},
		{7, 0, 2, 1, model.StatusRiskCreditAccountBlocked, 2},
		{7, 0, 1, 1, model.StatusOK, 0},
		{7, 1000, 1001, 2, model.StatusRiskClientBlocked, 3},
		{8, 1000, 1001, 2, model.StatusOK, 0},
	}
	for _, c := range cases {
		r.e.Begin(c.client)
		detail = model.RiskDetail{}
		status, rule := r.e.Blocked(c.debit, c.credit, c.ledger, &detail)
		if status != c.want || rule != c.rule {
			t.Errorf("%+v: %s, rule %d", c, status, rule)
		}
	}
}

// TestProfilesAcrossLedgers: rules of several ledgers each apply to their own ledger's
// accounts only, whatever order the transfers come in; an account's own rule of one kind
// keeps its ledger's rules of the other kinds.
func TestProfilesAcrossLedgers(t *testing.T) {
	r := newRig(t, 6000)
	r.set(maxAmountRule(5, 5, 50), maxAmountRule(1, 1, 10), maxAmountRule(3, 3, 30),
		maxAmountRule(2, 2, 20),
		model.RiskRule{ID: 6, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 3,
			WindowNs: 4 * second, Count: 1},
		model.RiskRule{ID: 7, Kind: model.RiskMaxAmount, Scope: model.RiskScopeAccount,
			Account: u(2001), Amount: u(1000)})
	account := func(ledger uint32, n uint64) uint64 { return uint64(ledger-1)*accountsPerLedger + n }
	for _, ledger := range []uint32{3, 1, 5, 2, 1, 4, 3, 6, 5} {
		limit := uint64(ledger) * 10
		debit := account(ledger, 10)
		p := payment{debit: debit, credit: debit + 1, amount: u(limit + 1)}
		status, _ := r.judge(p)
		want := model.StatusRiskAmountAboveMaximum
		if ledger == 4 || ledger == 6 {
			want = model.StatusOK
		}
		if status != want {
			t.Fatalf("ledger %d, amount %d: %s, want %s", ledger, limit+1, status, want)
		}
		p.amount = u(limit)
		if status, _ := r.judge(p); status != model.StatusOK {
			t.Fatalf("ledger %d, amount %d: %s", ledger, limit, status)
		}
	}
	// Account 2001 (ledger 3): its own maximum, and ledger 3's velocity still.
	r.expect(payment{debit: 2001, credit: 2002, amount: u(1000)}, model.StatusOK, 0)
	r.expect(payment{debit: 2001, credit: 2002, amount: u(1)}, model.StatusRiskAccountVelocityCount, 6)
	r.expect(payment{debit: 2003, credit: 2002, amount: u(31)}, model.StatusRiskAmountAboveMaximum, 3)
	// A change of the rules is seen at once on the ledger looked up last.
	r.set(maxAmountRule(3, 3, 40))
	r.expect(payment{debit: 2003, credit: 2002, amount: u(40)}, model.StatusOK, 0)
	r.remove(3)
	r.expect(payment{debit: 2004, credit: 2002, amount: u(1_000_000)}, model.StatusOK, 0)
}

// TestRestoreRefusals: a risk section that is short, of another format, or whose
// records contradict each other or the ledger is refused with ErrSnapshotInvalid; the
// sound one restores into an engine that decides as the original does, with counts
// exactly at the number of accounts.
func TestRestoreRefusals(t *testing.T) {
	const accounts = 6
	r := newRig(t, accounts)
	r.set(maxAmountRule(1, 1, 1000),
		model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: 16 * 100, Warmup: 1, Shift: 1},
		model.RiskRule{ID: 3, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 4 * second, Amount: u(500)})
	at := 30 * second
	r.expect(payment{debit: accounts, credit: 1, amount: u(100), at: at}, model.StatusOK, 0)
	good := r.snapshot()
	const header, record, velocityCell, anomalyCell = 32, 280, 96, 40
	rules := header + 3*record
	velocity := rules + accounts*velocityCell
	if len(good) != velocity+accounts*anomalyCell {
		t.Fatalf("section of %d bytes: the cases assume 3 rules and %d cells of each kind", len(good), accounts)
	}
	generation := binary.LittleEndian.Uint32(good[16:])
	putU32 := func(offset int, value uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[offset:], value); return b }
	}
	cut := func(length int) func([]byte) []byte { return func(b []byte) []byte { return b[:length] } }
	swapRules := func(b []byte) []byte {
		first := bytes.Clone(b[header : header+record])
		copy(b[header:], b[header+record:header+2*record])
		copy(b[header+record:], first)
		return b
	}
	cases := []struct {
		name     string
		change   func([]byte) []byte
		accounts uint32
	}{
		{"empty", cut(0), accounts},
		{"header cut short", cut(header - 1), accounts},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, accounts},
		{"another version", putU32(8, 2), accounts},
		{"more velocity cells than accounts", func(b []byte) []byte { // Anomaly cells fit.
			binary.LittleEndian.PutUint32(b[24:], accounts-1)
			return b[:len(b)-anomalyCell]
		}, accounts - 1},
		{"more anomaly cells than accounts", func(b []byte) []byte { // Velocity cells fit.
			binary.LittleEndian.PutUint32(b[20:], accounts-1)
			return append(b[:velocity-velocityCell], b[velocity:]...)
		}, accounts - 1},
		{"a rule cut short", cut(header + record + 10), accounts},
		{"a rule that is not valid", func(b []byte) []byte { b[header+4] = 99; return b }, accounts},
		{"a rule of generation 0", putU32(header+128, 0), accounts},
		{"a rule of a later generation", putU32(header+2*record+128, generation+1), accounts},
		{"rules out of id order", swapRules, accounts},
		{"two rules of one id", putU32(header+record, 1), accounts},
		{"two rules of one target", func(b []byte) []byte { // Rule 2 becomes rule 1's twin.
			copy(b[header+record:header+record+model.RiskRuleSize], b[header:])
			binary.LittleEndian.PutUint32(b[header+record:], 2)
			return b
		}, accounts},
		{"a velocity cell cut short", cut(rules + velocityCell + 3), accounts},
		{"a velocity cell of a later generation", putU32(rules+velocityCell, generation+1), accounts},
		{"a velocity cell's reserved word", putU32(rules+4, 1), accounts},
		{"an anomaly cell cut short", cut(velocity + anomalyCell + 3), accounts},
		{"an anomaly cell of a later generation", putU32(velocity+anomalyCell, generation+1), accounts},
	}
	for _, c := range cases {
		data := bytes.Clone(good)
		if c.change != nil {
			data = c.change(data)
		}
		if _, err := risk.Restore(bytes.NewReader(data), tableResolver(accounts), c.accounts); !errors.Is(err, risk.ErrSnapshotInvalid) {
			t.Errorf("%s: %v, want ErrSnapshotInvalid", c.name, err)
		}
	}
	// The unchanged section restores, with every count at exactly the number of accounts
	// and the newest rule and cell at exactly the header's generation.
	if binary.LittleEndian.Uint32(good[rules-record+128:]) != generation ||
		binary.LittleEndian.Uint32(good[velocity-velocityCell:]) != generation ||
		binary.LittleEndian.Uint32(good[len(good)-anomalyCell:]) != generation-1 {
		t.Fatal("the last rule and the last account's cells should carry the newest generations")
	}
	restored, err := risk.Restore(bytes.NewReader(good), tableResolver(accounts), accounts)
	if err != nil {
		t.Fatalf("the unchanged section: %v", err)
	}
	twin := &rig{t: t, e: restored, accounts: accounts}
	for _, p := range []payment{
		{debit: accounts, credit: 1, amount: u(400), at: at},            // Window 100 + 400 = 500.
		{debit: accounts, credit: 1, amount: u(1), at: at},              // Window full.
		{debit: 1, credit: 2, amount: u(1001), at: at},                  // Above the maximum.
		{debit: accounts, credit: 1, amount: u(500), at: at + 4*second}, // Window empty again.
		{debit: accounts, credit: 1, amount: u(1), at: at + 4*second},
	} {
		want, wantDetail := r.pay(p)
		got, detail := twin.pay(p)
		if got != want || detail != wantDetail {
			t.Fatalf("%+v after restore: %s %+v, the original %s %+v", p, got, detail, want, wantDetail)
		}
	}
	if !bytes.Equal(twin.snapshot(), r.snapshot()) {
		t.Fatal("the restored engine's snapshot differs from the original's")
	}
	// The anomaly rule set again: now the anomaly cell holds the header's generation.
	r.set(model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
		Threshold: 16, Warmup: 1, Shift: 1})
	r.expect(payment{debit: accounts, credit: 1, amount: u(1), at: at + 8*second}, model.StatusOK, 0)
	section := r.snapshot()
	if binary.LittleEndian.Uint32(section[len(section)-anomalyCell:]) != binary.LittleEndian.Uint32(section[16:]) {
		t.Fatal("the last anomaly cell should carry the header's generation")
	}
	if _, err := risk.Restore(bytes.NewReader(section), tableResolver(accounts), accounts); err != nil {
		t.Fatalf("a section whose anomaly cell is of the newest generation: %v", err)
	}
}

// TestCellsBeyondOneChunk: per-account counters of accounts in a second chunk of cells
// (index 65,536 and on) are kept apart from the first chunk's, survive a snapshot, and
// Prefetch of accounts the arrays do not cover is harmless.
func TestCellsBeyondOneChunk(t *testing.T) {
	const accounts = 70_000
	r := newRig(t, accounts)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1 << 16), WindowNs: 4 * second, Count: 1},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
			Account: u(1<<16 + 1), WindowNs: 4 * second, Count: 1},
		model.RiskRule{ID: 3, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
			Account: u(1<<16 + 1), Threshold: 16, Warmup: 1, Shift: 1})
	last, first := uint64(1<<16), uint64(1<<16+1) // Indexes 65,535 and 65,536.
	r.e.Prefetch([]uint32{0, 1 << 16, 1<<31 + 5})
	r.expect(payment{debit: last, credit: 1, amount: u(5)}, model.StatusOK, 0)
	r.e.Prefetch([]uint32{1<<16 - 1, 1 << 16, 1<<16 + 1})
	r.expect(payment{debit: first, credit: 1, amount: u(5)}, model.StatusOK, 0)
	r.e.Prefetch([]uint32{1<<16 - 1, 1 << 16, 1<<16 + 1, 1 << 17})
	restored, err := risk.Restore(bytes.NewReader(r.snapshot()), tableResolver(accounts), accounts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*risk.Engine{r.e, restored} {
		twin := &rig{t: t, e: e, accounts: accounts}
		twin.expect(payment{debit: last, credit: 1, amount: u(5)}, model.StatusRiskAccountVelocityCount, 1)
		twin.expect(payment{debit: first, credit: 1, amount: u(5)}, model.StatusRiskAccountVelocityCount, 2)
		if _, d := twin.judge(payment{debit: first, credit: 1, amount: maxAmount}); d.Rule != 2 {
			t.Fatalf("%+v", d) // Velocity comes first.
		}
	}
}

// TestChainRollbackNewestFirst: a chain that pays twice from the same account and the
// same client and then fails leaves every counter as before the chain; a committed chain
// keeps them.
func TestChainRollbackNewestFirst(t *testing.T) {
	r := newRig(t, 10)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * second, Amount: u(100)},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, WindowNs: 4 * second, Amount: u(200)},
		model.RiskRule{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: u(300)},
		model.RiskRule{ID: 4, Kind: model.RiskAnomaly, Scope: model.RiskScopeClient, Client: 7,
			Threshold: 16 * 100, Warmup: 1, Shift: 1},
		model.RiskRule{ID: 5, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount, Account: u(1),
			Threshold: 16 * 100, Warmup: 1, Shift: 1})
	p := payment{client: 7, debit: 1, credit: 2, amount: u(10)}
	r.expect(p, model.StatusOK, 0)
	before := r.snapshot()
	r.e.BeginChain()
	p.amount = u(30)
	r.expect(p, model.StatusOK, 0)
	p.amount = u(40)
	r.expect(p, model.StatusOK, 0)
	r.e.RollbackChain()
	if !bytes.Equal(r.snapshot(), before) {
		t.Fatal("a rolled-back chain changed the counters")
	}
	r.e.BeginChain()
	r.expect(p, model.StatusOK, 0)
	r.e.CommitChain()
	r.e.BeginChain() // The committed chain's log is gone: rolling back an empty chain keeps it.
	r.e.RollbackChain()
	d := r.expect(payment{client: 7, debit: 1, credit: 2, amount: u(51)}, model.StatusRiskAccountVelocityAmount, 1)
	if d.Current != u(50) {
		t.Fatalf("window after a committed chain holds %s, want 50", d.Current)
	}
}

// TestMisuseIsLoud: a chain begun twice, a snapshot inside a chain and an account-scope
// rule whose account the ledger no longer finds are programming errors: they panic.
func TestMisuseIsLoud(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	r := newRig(t, 10)
	r.e.BeginChain()
	mustPanic("BeginChain twice", r.e.BeginChain)
	mustPanic("Snapshot inside a chain", func() { r.e.Snapshot() })
	r.e.CommitChain()
	r.e.Snapshot()

	present := true
	e := risk.New(func(model.Uint128) (uint32, uint32, bool) { return 0, 1, present })
	statuses := make([]model.Status, 1)
	e.Set([]model.RiskRule{{ID: 1, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
		Account: u(1)}}, 1, statuses)
	if statuses[0] != model.StatusOK {
		t.Fatal(statuses[0])
	}
	present = false
	mustPanic("a rule's account gone", func() { e.Set(nil, 2, nil) })
}

// TestRestoredEngineDecidesAsTheOriginal: after a snapshot and restore, the restored
// engine answers a long run of transfers exactly as the original does (status and
// detail), for every counter a snapshot holds: per-account windows and averages, a
// ledger's day, a client's window, day and averages, part-way through a warm-up.
func TestRestoredEngineDecidesAsTheOriginal(t *testing.T) {
	const accounts = 4
	r := newRig(t, accounts)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
		WindowNs: 4 * second, Amount: u(500), Count: 4},
		model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: 16 * 5, Warmup: 3, Shift: 2},
		model.RiskRule{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: u(12_000)},
		model.RiskRule{ID: 4, Kind: model.RiskVelocity, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, WindowNs: 8 * second, Amount: u(400), Count: 4},
		model.RiskRule{ID: 5, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, Amount: u(1500)},
		model.RiskRule{ID: 6, Kind: model.RiskAnomaly, Scope: model.RiskScopeClient, Client: 7,
			Threshold: 16 * 5, Warmup: 5, Shift: 3})
	random := rand.New(rand.NewPCG(7, 20261217))
	at := model.RiskDayNs*30 + 3*second
	next := func() payment {
		at += random.Uint64N(second / 2)
		amount := 40 + random.Uint64N(80)
		if random.IntN(8) == 0 {
			amount *= 4
		}
		debit := 1 + random.Uint64N(3)
		return payment{client: 7 + random.Uint64N(2), debit: debit, credit: 4, amount: u(amount), at: at}
	}
	// Account 3 stays in its warm-up: two amounts.
	r.expect(payment{client: 8, debit: 3, credit: 4, amount: u(100), at: at}, model.StatusOK, 0)
	r.expect(payment{client: 8, debit: 3, credit: 4, amount: u(60), at: at}, model.StatusOK, 0)
	for range 60 {
		p := next()
		if p.debit == 3 {
			p.debit = 1
		}
		p.client = 8
		r.pay(p)
	}
	// Client 7's averages end their warm-up with a deviation above the floor: mean 55,
	// deviation 17, limit 55 + 5 × 17 = 140 (70 with the deviation lost).
	at += 4 * second
	for _, amount := range []uint64{40, 120, 40, 120, 40} {
		at += 2 * second
		r.expect(payment{client: 7, debit: 2, credit: 4, amount: u(amount), at: at}, model.StatusOK, 0)
	}
	at += 4 * second
	section := r.snapshot()
	restored, err := risk.Restore(bytes.NewReader(section), tableResolver(accounts), accounts)
	if err != nil {
		t.Fatal(err)
	}
	twin := &rig{t: t, e: restored, accounts: accounts}
	// First an amount only client 7's restored deviation lets pass, spikes from account 3
	// (scored only once its warm-up ends), then the random run.
	run := []payment{{client: 7, debit: 1, credit: 4, amount: u(100), at: at},
		{client: 8, debit: 3, credit: 4, amount: u(400), at: at},
		{client: 8, debit: 3, credit: 4, amount: u(400), at: at},
		{client: 7, debit: 1, credit: 4, amount: u(400), at: at},
		{client: 7, debit: 1, credit: 4, amount: u(400), at: at}}
	for range 300 {
		run = append(run, next())
	}
	differ := 0
	seen := map[model.Status]int{}
	for i, p := range run {
		want, wantDetail := r.pay(p)
		got, detail := twin.pay(p)
		seen[want]++
		if got != want || detail != wantDetail {
			differ++
			if differ <= 3 {
				t.Errorf("transfer %d %+v after restore: %s %+v, the original %s %+v", i, p, got,
					detail, want, wantDetail)
			}
		}
	}
	if differ != 0 {
		t.Fatalf("%d of %d decisions differ; verdicts %v", differ, len(run), seen)
	}
	for _, status := range []model.Status{model.StatusOK, model.StatusRiskAccountVelocityAmount,
		model.StatusRiskAccountVelocityCount, model.StatusRiskClientVelocityAmount,
		model.StatusRiskClientVelocityCount, model.StatusRiskLedgerDailyAmount,
		model.StatusRiskClientDailyAmount, model.StatusRiskAnomaly} {
		if seen[status] == 0 {
			t.Errorf("the run never reached %s (verdicts %v): it tests less than it claims", status, seen)
		}
	}
	if !bytes.Equal(twin.snapshot(), r.snapshot()) {
		t.Fatal("the restored engine's snapshot differs from the original's")
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestWriteToCountsAndFails: WriteTo returns the number of bytes it wrote (the section's
// whole length, past its buffer's size) and the writer's error.
func TestWriteToCountsAndFails(t *testing.T) {
	r := newRig(t, 1000)
	rules := make([]model.RiskRule, 300)
	for i := range rules {
		rules[i] = maxAmountRule(uint32(i+1), uint32(i+1), 5)
	}
	r.set(rules...)
	r.set(model.RiskRule{ID: 1000, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1000), WindowNs: 4 * second, Count: 9})
	r.expect(payment{debit: 1000, credit: 1, amount: u(1)}, model.StatusOK, 0)
	var section bytes.Buffer
	n, err := r.e.Snapshot().WriteTo(&section)
	if err != nil || n != int64(section.Len()) || n != 32+301*280+1000*96 {
		t.Fatalf("WriteTo: %d bytes, %v; the buffer holds %d", n, err, section.Len())
	}
	failure := errors.New("disk full")
	if _, err := r.e.Snapshot().WriteTo(failingWriter{failure}); !errors.Is(err, failure) {
		t.Fatalf("WriteTo to a failing writer: %v", err)
	}
}

// TestRestoreRefusesEverySectionCutShort: a sound section cut short anywhere in its last
// record is refused, for sections that end with the header, with a rule, with a velocity
// cell and with an anomaly cell (a cut record must not be read as zeros or as the record
// before).
func TestRestoreRefusesEverySectionCutShort(t *testing.T) {
	const accounts = 3
	var sections [][]byte
	var lastRecord []int // Bytes of each section's last record.
	r := newRig(t, accounts)
	sections, lastRecord = append(sections, r.snapshot()), append(lastRecord, 32) // The header alone.
	r.set(maxAmountRule(1, 1, 1000))
	sections, lastRecord = append(sections, r.snapshot()), append(lastRecord, 280) // One rule, no cells.
	r.set(model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
		WindowNs: 4 * second, Count: 9})
	r.expect(payment{debit: 2, credit: 1, amount: u(7), at: 5 * second}, model.StatusOK, 0)
	sections, lastRecord = append(sections, r.snapshot()), append(lastRecord, 96) // Velocity cells last.
	r.set(model.RiskRule{ID: 3, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
		Threshold: 16, Warmup: 1, Shift: 1})
	r.expect(payment{debit: 3, credit: 1, amount: u(7), at: 5 * second}, model.StatusOK, 0)
	sections, lastRecord = append(sections, r.snapshot()), append(lastRecord, 40) // Anomaly cells last.
	for i, section := range sections {
		if _, err := risk.Restore(bytes.NewReader(section), tableResolver(accounts), accounts); err != nil {
			t.Fatalf("section %d whole: %v", i, err)
		}
		// Cuts inside the last record: before, inside and after its generation and
		// reserved words, half-way, one byte short; and the first byte of the section.
		start := len(section) - lastRecord[i]
		for _, length := range []int{1, start, start + 1, start + 4, start + 8, start + 133,
			start + lastRecord[i]/2, len(section) - 1} {
			if length >= len(section) {
				continue
			}
			_, err := risk.Restore(bytes.NewReader(section[:length]), tableResolver(accounts), accounts)
			if !errors.Is(err, risk.ErrSnapshotInvalid) {
				t.Fatalf("section %d cut to %d of %d bytes: %v, want ErrSnapshotInvalid", i, length,
					len(section), err)
			}
		}
	}
}
