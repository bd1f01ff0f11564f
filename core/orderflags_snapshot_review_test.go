package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestRestoreRefusesOptedInAccountsBelowOrderFlagsRules: trading accounts with
// increasing client order ids exist only from the rules version that brought the order
// flags (a place can opt in only then, and versions never go back), and their commands
// age the idempotency window by slots without a key. A machine snapshot at a lower
// rules version holding such accounts describes no state a log can reach, and a machine
// restored from it would apply the log otherwise than the one that wrote it (its
// opted-in accounts' commands would skip the window, age it by keyless slots, and be
// refused client_order_id_not_increasing, while flagged places are reserved_field), so
// it is refused as damaged, as the match section refuses its own impossible states.
func TestRestoreRefusesOptedInAccountsBelowOrderFlagsRules(t *testing.T) {
	h := newTradingHarness(t, RulesVersionCurrent)
	if result := h.placeFlagged(1, 10); result.Status != model.StatusOK {
		t.Fatalf("opting place: %s", result.Status)
	}
	var snapshot bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes())); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
	damaged := append([]byte(nil), snapshot.Bytes()...)
	expectRules := binary.LittleEndian.Uint32(damaged[machineHeaderSize:])
	if expectRules != RulesVersionCurrent {
		t.Fatalf("rules word %d, want %d", expectRules, RulesVersionCurrent)
	}
	binary.LittleEndian.PutUint32(damaged[machineHeaderSize:], rulesVersionOrderFlags-1)
	if _, err := Restore(Config{}, bytes.NewReader(damaged)); !errors.Is(err,
		ErrSnapshotInvalid) {
		t.Fatalf("opted-in accounts at rules version %d: %v, want refused",
			rulesVersionOrderFlags-1, err)
	}
}
