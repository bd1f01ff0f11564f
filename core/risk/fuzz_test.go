package risk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// TestRestoreRefusesInconsistentSections is a table of risk sections that decode field
// by field but contradict the ledger they are loaded with or the format's reserved
// fields: each must be refused with ErrSnapshotInvalid (FuzzRestore checks only that
// nothing panics and that what is accepted writes back the same).
func TestRestoreRefusesInconsistentSections(t *testing.T) {
	h := newHarness(t)
	h.set(model.RiskRule{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
		WindowNs: 4 * second, Count: 3},
		model.RiskRule{ID: 2, Kind: model.RiskMaxAmount, Scope: model.RiskScopeAccount,
			Account: u(3), Amount: u(1000)})
	h.pay(1, 2, 5)
	h.pay(3, 2, 1)
	var section bytes.Buffer
	if _, err := h.ledger.Risk().Snapshot().WriteTo(&section); err != nil {
		t.Fatal(err)
	}
	good := section.Bytes()
	velocityCells := binary.LittleEndian.Uint32(good[20:])
	if velocityCells == 0 || binary.LittleEndian.Uint32(good[24:]) != 0 {
		t.Fatalf("the section has %d velocity and %d anomaly cells; the cases need some and none",
			velocityCells, binary.LittleEndian.Uint32(good[24:]))
	}
	const headerBytes, ruleBytes = 32, model.RiskRuleSize
	accountsMissing := func(model.Uint128) (uint32, uint32, bool) { return 0, 0, false }
	resolve, accounts := risk.AccountResolver(h.ledger.ResolveAccount), h.ledger.AccountCount()
	cases := []struct {
		name     string
		change   func(b []byte)
		resolve  risk.AccountResolver
		accounts uint32
	}{
		{"reserved header word set", func(b []byte) { b[28] = 1 }, resolve, accounts},
		{"more velocity cells than accounts", func([]byte) {}, resolve, velocityCells - 1},
		{"reserved byte of a rule set", func(b []byte) { b[headerBytes+ruleBytes-1] = 1 },
			resolve, accounts},
		{"account rule naming an account the ledger lacks", func([]byte) {}, accountsMissing,
			accounts},
	}
	restore := func(data []byte, resolve risk.AccountResolver, accounts uint32) error {
		_, err := risk.Restore(bytes.NewReader(data), resolve, accounts)
		return err
	}
	if err := restore(good, resolve, accounts); err != nil {
		t.Fatalf("the unchanged section: %v", err)
	}
	for _, c := range cases {
		data := bytes.Clone(good)
		c.change(data)
		if err := restore(data, c.resolve, c.accounts); !errors.Is(err, risk.ErrSnapshotInvalid) {
			t.Errorf("%s: %v, want ErrSnapshotInvalid", c.name, err)
		}
	}
}
