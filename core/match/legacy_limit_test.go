package match

import (
	"bytes"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestLegacyHoldsEndAtTheTransfersLimit: with the ledger at its transfers limit, an
// order that still holds a legacy pending transfer (restored from version 2) can still
// be canceled: its void must happen, as a release does. Before the fix the ledger
// refused the void (transfers_limit_reached) and the engine panicked: a crash that a
// replay repeats, reached by any client that fills the ledger and then cancels. The
// voids so stored past the limit must not make the node's snapshot unrestorable.
func TestLegacyHoldsEndAtTheTransfersLimit(t *testing.T) {
	legacy := newSnapshotScenario(t)
	legacy.toLegacy()
	ledgerBytes, engineBytes := snapshotBytes(t, legacy)
	oldLedger, oldEngine := versionTwo(t, ledgerBytes, engineBytes)
	full := ledger.Config{TransfersMax: uint32(legacy.l.TransferCount())}
	l, err := ledger.Restore(full, bytes.NewReader(oldLedger))
	if err != nil {
		t.Fatalf("ledger version 2: %v", err)
	}
	e, err := Restore(l, legacy.config, bytes.NewReader(oldEngine))
	if err != nil {
		t.Fatalf("engine version 2: %v", err)
	}
	legacy.l, legacy.e = l, e
	canceled := legacy.cancel(2, model.OrderCancel{ClientOrderID: 20, Account: 1, OrderID: 4})
	expectEqual(t, "cancel of a legacy order", canceled[0].Status, model.StatusOK)
	for client := uint64(1); client <= 3; client++ {
		legacy.e.CancelAllForClient(&legacy.clock, client, &legacy.sink)
		legacy.check()
	}
	for _, id := range []model.Uint128{traderBase(1), traderQuote(2)} {
		if _, pending := legacy.balance(id); pending != 0 {
			t.Fatalf("account %s still holds %d", id, pending)
		}
	}
	// The voids are stored past the limit; the node's snapshot of that state must
	// restore under the same configuration (Restore refused it: counts exceed limits).
	if count := legacy.l.TransferCount(); count <= full.TransfersMax {
		t.Fatalf("%d transfers, limit %d: no void was stored past it", count, full.TransfersMax)
	}
	ledgerBytes, engineBytes = snapshotBytes(t, legacy)
	restored, err := ledger.Restore(full, bytes.NewReader(ledgerBytes))
	if err != nil {
		t.Fatalf("the ledger's snapshot past its limit: %v", err)
	}
	if _, err := Restore(restored, legacy.config, bytes.NewReader(engineBytes)); err != nil {
		t.Fatalf("the engine's snapshot over a ledger past its limit: %v", err)
	}
}
