package risk

import (
	"testing"

	"sequent/core/internal/riskfixture"
	"sequent/core/model"
)

// BenchmarkEvaluate measures the engine alone: Evaluate and Commit of one transfer
// between random accounts of 1,000 (all cached) with the five ledger-scope rules of
// ledger.BenchmarkCreateTransfersRisk in force. The ledger benchmark is the figure that
// matters; this one says how much of it is the engine's own arithmetic.
func BenchmarkEvaluate(b *testing.B) {
	engine := New(func(model.Uint128) (uint32, uint32, bool) { return 0, 1, true })
	rules := riskfixture.FiveLedgerRules()
	statuses := make([]model.Status, len(rules))
	engine.Set(rules, 1, statuses)
	engine.Begin(7)
	var detail model.RiskDetail
	transfer := Transfer{Ledger: 1, Timestamp: 1_000_000}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		transfer.DebitIndex = uint32(n*7919) % 1000
		transfer.CreditIndex = uint32(n*104729) % 1000
		transfer.Amount = model.U128(uint64(1 + n%1000))
		transfer.Timestamp++
		if engine.Evaluate(&transfer, &detail) != model.StatusOK {
			b.Fatal(detail)
		}
		engine.Commit()
	}
}
