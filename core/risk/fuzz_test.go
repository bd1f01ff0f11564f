package risk_test

import (
	"bytes"
	"testing"

	"sequent/core/model"
	"sequent/core/risk"
)

// FuzzRestore feeds arbitrary bytes (seeded with real risk sections) to risk.Restore: it
// must refuse what is malformed with an error, never panic or allocate beyond its
// bounds, and what it accepts must write back to the same bytes.
func FuzzRestore(f *testing.F) {
	h := newHarness(&testing.T{})
	h.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
		WindowNs: 4 * second, Count: 3},
		model.RiskRule{ID: 2, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount, Account: u(1),
			Threshold: 64, Warmup: 1, Shift: 2},
		model.RiskRule{ID: 3, Kind: model.RiskCoolingOff, Scope: model.RiskScopeClient, Client: sender,
			WindowNs: second, Amount: u(1)},
		model.RiskRule{ID: 4, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: u(1000)})
	h.pay(1, 2, 5)
	h.pay(1, 3, 1)
	var seed bytes.Buffer
	if _, err := h.ledger.Risk().Snapshot().WriteTo(&seed); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	var empty bytes.Buffer
	if _, err := risk.New(h.ledger.ResolveAccount).Snapshot().WriteTo(&empty); err != nil {
		f.Fatal(err)
	}
	f.Add(empty.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		engine, err := risk.Restore(bytes.NewReader(data), h.ledger.ResolveAccount,
			h.ledger.AccountCount())
		if err != nil {
			return
		}
		var written bytes.Buffer
		if _, err := engine.Snapshot().WriteTo(&written); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(written.Bytes(), data[:written.Len()]) {
			t.Fatal("an accepted section does not write back the same")
		}
	})
}
