package risk

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestDebitPathMatchesGeneralPathMixed widens TestDebitPathMatchesGeneralPath to what it
// does not generate: three ledgers (the third without rules), account-scope rules that
// override their ledger's kinds, anomaly rules that hold and that refuse, rules set,
// replaced and removed between batches (and now and then a blocking rule, which sends
// both engines down the general path until it is removed), linked chains committed or
// rolled back, transfers passed by the rules and then refused by the ledger (no Commit),
// and both engines snapshotted and restored mid-run. The two engines hold the same rules,
// including one client rule for a ledger no transfer uses; only the client they begin
// each batch with differs: the debit engine's sender has no rules (debit-only path), the
// general engine's has that rule (general path). Every status and explanation, and the
// snapshots byte for byte after every batch, must be the same.
func TestDebitPathMatchesGeneralPathMixed(t *testing.T) {
	for seed := uint64(1); seed <= 24; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkDebitPathMixed(t, seed) })
	}
}

// mixedAccountLedgers is each test account's ledger (by index = id): ledger 3 has no
// ledger-scope rules.
var mixedAccountLedgers = [...]uint32{1, 1, 1, 1, 1, 2, 2, 2, 3, 3}

func checkDebitPathMixed(t *testing.T, seed uint64) {
	const (
		client      = uint64(7) // Has the never-applying rule: general path.
		otherClient = uint64(8) // Has no rules: debit-only path.
		minuteNs    = 60 * uint64(1_000_000_000)
		accounts    = uint32(len(mixedAccountLedgers))
	)
	resolve := func(id model.Uint128) (uint32, uint32, bool) {
		if id.Hi != 0 || id.Lo >= uint64(accounts) {
			return 0, 0, false
		}
		return uint32(id.Lo), mixedAccountLedgers[id.Lo], true
	}
	random := rand.New(rand.NewPCG(seed, 44))
	engines := [2]*Engine{New(resolve), New(resolve)} // debit, general
	senders := [2]uint64{otherClient, client}
	now := uint64(1_000) * minuteNs
	set := func(rules ...model.RiskRule) {
		var statuses [2][]model.Status
		for side, engine := range engines {
			statuses[side] = make([]model.Status, len(rules))
			engine.Set(rules, now, statuses[side])
		}
		for i := range rules {
			if statuses[0][i] != statuses[1][i] {
				t.Fatalf("rule %+v: %s and %s", rules[i], statuses[0][i], statuses[1][i])
			}
		}
		now++
	}
	set(model.RiskRule{ID: 100, Kind: model.RiskMaxAmount, Scope: model.RiskScopeClient,
		Client: client, Ledger: 99, Amount: model.U128(1)})
	randomRule := func() model.RiskRule {
		rule := model.RiskRule{ID: 1 + random.Uint32N(12)}
		if random.IntN(3) == 0 {
			rule.Scope, rule.Account = model.RiskScopeAccount, model.U128(uint64(random.IntN(8)))
			if rule.Account.IsZero() {
				rule.Account = model.U128(1)
			}
		} else {
			rule.Scope, rule.Ledger = model.RiskScopeLedger, 1+random.Uint32N(2)
		}
		kinds := []model.RiskKind{model.RiskMaxAmount, model.RiskVelocity,
			model.RiskDailyAmount, model.RiskCoolingOff, model.RiskAnomaly}
		if random.IntN(25) == 0 {
			kinds = []model.RiskKind{model.RiskBlocked}
		}
		rule.Kind = kinds[random.IntN(len(kinds))]
		if rule.Kind == model.RiskDailyAmount && rule.Scope == model.RiskScopeAccount {
			rule.Kind = model.RiskMaxAmount
		}
		switch rule.Kind {
		case model.RiskMaxAmount:
			rule.Amount = model.U128(300 + random.Uint64N(900))
		case model.RiskVelocity:
			rule.WindowNs = 4 * minuteNs * (1 + random.Uint64N(3))
			rule.Amount = model.U128(random.Uint64N(3) * 1_000)
			if rule.Amount.IsZero() || random.IntN(2) == 0 {
				rule.Count = 2 + random.Uint64N(6)
			}
		case model.RiskDailyAmount:
			rule.Amount = model.U128(5_000 + random.Uint64N(40_000))
		case model.RiskCoolingOff:
			rule.WindowNs = minuteNs * (1 + random.Uint64N(15))
			rule.Amount = model.U128(random.Uint64N(400))
		case model.RiskAnomaly:
			rule.Threshold = 16 + random.Uint32N(64)
			rule.Warmup = uint16(1 + random.IntN(4))
			rule.Shift = uint8(1 + random.IntN(3))
			rule.Action = model.RiskAction(random.IntN(2))
		}
		return rule
	}
	for range 6 {
		set(randomRule())
	}
	created := [len(mixedAccountLedgers)]uint64{}
	kinds := map[model.Status]int{}
	for batch := 0; batch < 1_500; batch++ {
		switch random.IntN(10) {
		case 0:
			set(randomRule())
		case 1:
			ids := []uint32{1 + random.Uint32N(12)}
			var statuses [2][1]model.Status
			for side, engine := range engines {
				engine.Remove(ids, statuses[side][:])
			}
			if statuses[0] != statuses[1] {
				t.Fatalf("remove %d: %v", ids[0], statuses)
			}
		}
		for side, engine := range engines {
			engine.Begin(senders[side])
		}
		chain := random.IntN(5) == 0
		if chain {
			for _, engine := range engines {
				engine.BeginChain()
			}
		}
		broken := false
		events := 1 + random.IntN(6)
		for i := 0; i < events && !broken; i++ {
			now += random.Uint64N(minuteNs / 3)
			if random.IntN(60) == 0 {
				now += random.Uint64N(model.RiskDayNs / 2) // Past windows, now and then a day.
			}
			payer := random.Uint32N(accounts)
			payee := (payer + 1 + random.Uint32N(accounts-1)) % accounts
			ledger := mixedAccountLedgers[payer]
			if random.IntN(15) == 0 {
				created[payee] = now - random.Uint64N(10*minuteNs)
			}
			amount := 1 + random.Uint64N(500)
			if random.IntN(8) == 0 {
				amount = 1 + random.Uint64N(5_000)
			}
			transfer := Transfer{DebitIndex: payer, CreditIndex: payee,
				DebitID: model.U128(uint64(payer)), CreditID: model.U128(uint64(payee)),
				CreditCreated: created[payee], Ledger: ledger, Amount: model.U128(amount),
				Timestamp: now, InChain: chain}
			refusedLater := random.IntN(10) == 0 // By the ledger, after the rules passed.
			var results [2]model.Status
			var details [2]model.RiskDetail
			var copies [2]Transfer
			for side, engine := range engines {
				copies[side] = transfer
				results[side] = engine.Evaluate(&copies[side], &details[side])
				passed := results[side] == model.StatusOK ||
					results[side] == model.StatusRiskHeldForReview
				if passed && !refusedLater {
					engine.Commit()
				}
			}
			if results[0] != results[1] || details[0] != details[1] {
				t.Fatalf("batch %d event %d %+v: debit path %s %+v, general path %s %+v",
					batch, i, transfer, results[0], details[0], results[1], details[1])
			}
			kinds[results[0]]++
			if chain && (results[0] != model.StatusOK || refusedLater) {
				broken = true
			}
		}
		if chain {
			rollback := broken || random.IntN(3) == 0 // One draw for both engines.
			for _, engine := range engines {
				if rollback {
					engine.RollbackChain()
				} else {
					engine.CommitChain()
				}
			}
		}
		var snapshots [2][]byte
		for side, engine := range engines {
			var buffer bytes.Buffer
			if _, err := engine.Snapshot().WriteTo(&buffer); err != nil {
				t.Fatal(err)
			}
			snapshots[side] = buffer.Bytes()
		}
		if !bytes.Equal(snapshots[0], snapshots[1]) {
			t.Fatalf("batch %d: the two paths left different state", batch)
		}
		if random.IntN(50) == 0 {
			for side := range engines {
				restored, err := Restore(bytes.NewReader(snapshots[side]), resolve, accounts)
				if err != nil {
					t.Fatal(err)
				}
				engines[side] = restored
			}
		}
	}
	for _, status := range []model.Status{model.StatusOK, model.StatusRiskAmountAboveMaximum,
		model.StatusRiskNewCounterparty, model.StatusRiskAccountVelocityCount,
		model.StatusRiskAnomaly, model.StatusRiskHeldForReview} {
		if kinds[status] == 0 {
			t.Logf("seed %d: no transfer ended %s (%v)", seed, status, kinds)
		}
	}
}
