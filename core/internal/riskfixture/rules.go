package riskfixture

import "sequent/core/model"

// hourNs is the velocity and cooling-off window of the benchmark rules.
const hourNs = uint64(3600 * 1_000_000_000)

// FiveLedgerRules returns one rule of each of five kinds, scoped to ledger 1, with
// limits no benchmark transfer reaches: max amount, velocity, daily amount, cooling-off
// (the payee account's age) and anomaly (per-account averages).
func FiveLedgerRules() []model.RiskRule {
	return []model.RiskRule{
		{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.U128(1 << 40)},
		{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: hourNs, Amount: model.U128(1 << 50), Count: 1 << 40},
		{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.Uint128{Hi: 1}},
		{ID: 4, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: hourNs, Amount: model.U128(1000)},
		{ID: 5, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: 1 << 20, Warmup: 1, Shift: 4},
	}
}
