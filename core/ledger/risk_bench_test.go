package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// BenchmarkCreateTransfersRisk measures what inline risk rules cost the ledger: the same
// batches as BenchmarkCreateTransfers (as=owner, the client path), with no rule and with
// five ledger-scope rules that every transfer is checked against and counted by (none
// refuses: their limits are above the traffic): max_amount, velocity (amount and count
// over a 1-hour window, per account), daily_amount (the ledger's day), cooling_off (the
// payee account's age) and anomaly (per-account averages). Both variants record events,
// as the state machine does. Compare
// transfers/s of rules=five with rules=none of the same run.
func BenchmarkCreateTransfersRisk(b *testing.B) {
	hour := uint64(3600 * 1_000_000_000)
	five := []model.RiskRule{
		{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.U128(1 << 40)},
		{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: hour, Amount: model.U128(1 << 50), Count: 1 << 40},
		{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.Uint128{Hi: 1}},
		{ID: 4, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: hour, Amount: model.U128(1000)},
		{ID: 5, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: 1 << 20, Warmup: 1, Shift: 4},
	}
	for _, accountCount := range []uint32{1_000, benchAccountCount} {
		for _, rules := range []string{"none", "five"} {
			b.Run(fmt.Sprintf("accounts=%d/rules=%s", accountCount, rules), func(b *testing.B) {
				if rules == "five" {
					benchmarkCreateTransfers(b, accountCount, "owner", true, five...)
					return
				}
				benchmarkCreateTransfers(b, accountCount, "owner", true)
			})
		}
	}
}
