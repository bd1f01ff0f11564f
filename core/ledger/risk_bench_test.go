package ledger

import (
	"fmt"
	"testing"

	"sequent/core/internal/riskfixture"
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
	five := riskfixture.FiveLedgerRules()
	for _, accountCount := range []uint32{1_000, benchAccountCount} {
		for _, rules := range []string{"none", "five"} {
			b.Run(fmt.Sprintf("accounts=%d/rules=%s", accountCount, rules), func(b *testing.B) {
				if rules == "five" {
					benchmarkCreateTransfers(b, accountCount, "owner", true,
						model.EventsPerRequestMax, five...)
					return
				}
				benchmarkCreateTransfers(b, accountCount, "owner", true, model.EventsPerRequestMax)
			})
		}
	}
}
