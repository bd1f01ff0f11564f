package risk_test

import (
	"bytes"
	"testing"

	"sequent/core/model"
	"sequent/core/risk"
)

// TestRestoredWindowKeepsOlderAmounts: a snapshot taken while an account's window and a
// client's window keep amounts in older buckets (the account's in the engine's cold
// array, the client's beside its rule) restores to an engine that writes the same
// section again and, when the windows move on, still counts those amounts: 70 more fits
// the account's limit of 100, 71 does not. TestRestoredEngineDecidesAsTheOriginal moves
// every account window past its length before its first decision after the restore, so
// a restore that dropped the account windows' older amounts passed it.
func TestRestoredWindowKeepsOlderAmounts(t *testing.T) {
	const (
		accounts = 4
		bucketNs = second
	)
	r := newRig(t, accounts)
	r.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeAccount,
		Account: u(1), WindowNs: 4 * bucketNs, Amount: u(100)},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, WindowNs: 4 * bucketNs, Amount: u(130)})
	p := payment{client: 7, debit: 1, credit: 2, amount: u(10), at: 10 * bucketNs}
	r.expect(p, model.StatusOK, 0)
	p.amount, p.at = u(20), 11*bucketNs // Bucket 10's 10 is now an older amount.
	r.expect(p, model.StatusOK, 0)
	section := r.snapshot()
	restored, err := risk.Restore(bytes.NewReader(section), tableResolver(accounts), accounts)
	if err != nil {
		t.Fatal(err)
	}
	twin := &rig{t: t, e: restored, accounts: accounts}
	if !bytes.Equal(twin.snapshot(), section) {
		t.Fatal("the restored engine writes another section than the one it was restored from")
	}
	// At bucket 12 the window holds buckets 9–12: 10 + 20 already counted.
	for _, side := range []*rig{r, twin} {
		p.at = 12 * bucketNs
		p.amount = u(71)
		side.expect(p, model.StatusRiskAccountVelocityAmount, 1)
		p.amount = u(70)
		side.expect(p, model.StatusOK, 0)
		// The client's window (limit 130) now holds 100: 31 more is refused by it alone.
		p.debit, p.amount = 2, u(31)
		side.expect(p, model.StatusRiskClientVelocityAmount, 2)
		p.debit = 1
	}
	if !bytes.Equal(twin.snapshot(), r.snapshot()) {
		t.Fatal("after the same transfers the restored engine's section differs from the original's")
	}
}
