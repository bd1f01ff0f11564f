package client

import (
	"errors"
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestErrOrderReadNeedsInstrumentMatchesStatus85Only: errors.Is finds
// ErrOrderReadNeedsInstrument in a *StatusError of status instrument_shard_unknown (85),
// also wrapped, and in no other status's; errors.As still finds the *StatusError.
func TestErrOrderReadNeedsInstrumentMatchesStatus85Only(t *testing.T) {
	refused := fmt.Errorf("reading: %w", &StatusError{Operation: model.OperationLookupOrders,
		Number: 3, Status: model.StatusInstrumentShardUnknown})
	var status *StatusError
	if !errors.Is(refused, ErrOrderReadNeedsInstrument) || !errors.As(refused, &status) ||
		status.Status != model.StatusInstrumentShardUnknown {
		t.Fatalf("%v: want ErrOrderReadNeedsInstrument and status 85", refused)
	}
	for _, other := range []model.Status{model.StatusBusy, model.StatusPermissionDenied,
		model.StatusInstrumentNotFound, model.StatusAccountOnOtherShard} {
		if err := error(&StatusError{Status: other}); errors.Is(err, ErrOrderReadNeedsInstrument) {
			t.Fatalf("status %s matches ErrOrderReadNeedsInstrument", other)
		}
	}
	if errors.Is(&StatusError{Status: model.StatusInstrumentShardUnknown}, ErrClosed) {
		t.Fatal("status 85 matches ErrClosed")
	}
}
