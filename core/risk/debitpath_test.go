package risk

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestDebitPathMatchesGeneralPath runs the same random transfers through two engines
// with the same ledger-scope rules of the five counting kinds, set tight so that every
// kind refuses or holds often: one engine takes Evaluate's debit-only path (its client has
// no rules), the other the general path (its client has a rule for another ledger, which
// never applies but makes the client's list non-empty). Every status and explanation must
// be the same, and so must the counters: once the extra rule is removed from both, their
// snapshots are byte for byte the same. A debit-only path that skipped a check, judged
// in another order, or counted differently fails here. The second run loosens the
// anomaly rule, which otherwise catches most transfers that other rules refuse too.
func TestDebitPathMatchesGeneralPath(t *testing.T) {
	t.Run("tight", func(t *testing.T) { checkDebitPath(t, 40) })
	t.Run("loose-anomaly", func(t *testing.T) { checkDebitPath(t, 1<<20) })
}

func checkDebitPath(t *testing.T, anomalyThreshold uint32) {
	const (
		accountCount = 6
		client       = uint64(7)
		otherClient  = uint64(8)
		minuteNs     = 60 * uint64(1_000_000_000)
	)
	resolve := func(id model.Uint128) (uint32, uint32, bool) {
		return uint32(id.Lo), 1, id.Lo < accountCount
	}
	rules := []model.RiskRule{
		{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.U128(900)},
		{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 4 * minuteNs, Amount: model.U128(2_000), Count: 6},
		{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.U128(40_000)},
		{ID: 4, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 10 * minuteNs, Amount: model.U128(300)},
		{ID: 5, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: anomalyThreshold, Warmup: 3, Shift: 2, Action: model.RiskHold},
	}
	// Rule 6 is a client rule on ledger 2: for debit it names a client that sends nothing,
	// for general the sending client (its list is then non-empty, and the rule never
	// applies to ledger 1's transfers).
	sixth := model.RiskRule{ID: 6, Kind: model.RiskMaxAmount, Scope: model.RiskScopeClient,
		Ledger: 2, Amount: model.U128(1)}
	debit, general := New(resolve), New(resolve)
	statuses := make([]model.Status, len(rules)+1)
	for _, side := range []struct {
		engine *Engine
		client uint64
	}{{debit, otherClient}, {general, client}} {
		engine := side.engine
		sixth.Client = side.client
		engine.Set(append(append([]model.RiskRule(nil), rules...), sixth), 1, statuses)
		for i, status := range statuses {
			if status != model.StatusOK {
				t.Fatalf("rule %d: %s", i+1, status)
			}
		}
		engine.Begin(client)
	}
	if len(debit.actor) != 0 || len(general.actor) != 1 || debit.blocking || general.blocking {
		t.Fatal("the engines do not take the two paths")
	}
	random := rand.New(rand.NewPCG(44, 4))
	now := uint64(1_000) * minuteNs
	created := [accountCount]uint64{} // The accounts' creation timestamps.
	kinds := map[model.Status]int{}
	for i := 0; i < 20_000; i++ {
		now += random.Uint64N(minuteNs / 2)
		if random.IntN(50) == 0 {
			now += random.Uint64N(30 * minuteNs) // Now and then past a window or a day.
		}
		payer := random.Uint32N(accountCount)
		payee := (payer + 1 + random.Uint32N(accountCount-1)) % accountCount
		if random.IntN(20) == 0 {
			created[payee] = now - random.Uint64N(20*minuteNs) // A newly opened payee.
		}
		amount := 1 + random.Uint64N(400)
		switch random.IntN(10) {
		case 0:
			amount = 1 + random.Uint64N(1_200)
		case 1: // The limits' edges: max_amount's and cooling-off's small amount.
			amount = []uint64{299, 300, 301, 899, 900, 901}[random.IntN(6)]
		}
		transfer := Transfer{DebitIndex: payer, CreditIndex: payee,
			DebitID: model.U128(uint64(payer)), CreditID: model.U128(uint64(payee)),
			CreditCreated: created[payee], Ledger: 1, Amount: model.U128(amount),
			Timestamp: now, InChain: random.IntN(8) == 0}
		var results [2]model.Status
		var details [2]model.RiskDetail
		for side, engine := range []*Engine{debit, general} {
			copied := transfer // Evaluate keeps the pointer until Commit.
			results[side] = engine.Evaluate(&copied, &details[side])
			if results[side] == model.StatusOK || results[side] == model.StatusRiskHeldForReview {
				engine.Commit()
			}
		}
		if results[0] != results[1] || details[0] != details[1] {
			t.Fatalf("transfer %d: debit path %s %+v, general path %s %+v", i,
				results[0], details[0], results[1], details[1])
		}
		kinds[results[0]]++
	}
	want := []model.Status{model.StatusOK, model.StatusRiskAmountAboveMaximum,
		model.StatusRiskNewCounterparty, model.StatusRiskAccountVelocityAmount,
		model.StatusRiskAccountVelocityCount, model.StatusRiskLedgerDailyAmount}
	if anomalyThreshold < 1<<10 {
		want = append(want, model.StatusRiskAnomaly, model.StatusRiskHeldForReview)
	}
	for _, status := range want {
		if kinds[status] == 0 {
			t.Errorf("no transfer ended %s: the rules are not tight enough to test it (%v)",
				status, kinds)
		}
	}
	var sections [2][]byte
	for side, engine := range []*Engine{debit, general} {
		removed := make([]model.Status, 1)
		engine.Remove([]uint32{sixth.ID}, removed)
		var buffer bytes.Buffer
		if _, err := engine.Snapshot().WriteTo(&buffer); err != nil || removed[0] != model.StatusOK {
			t.Fatal(err, removed[0])
		}
		sections[side] = buffer.Bytes()
	}
	if !bytes.Equal(sections[0], sections[1]) {
		t.Fatal("the two paths left different counters")
	}
}
