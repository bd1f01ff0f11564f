package shard

import (
	"testing"

	"sequent/core/model"
)

// TestLatencyStatusesCounted: Latencies reports, by name, how many released requests had
// each status, for statuses counted in the array (ok, a ledger status, a fault status)
// and for one above it (the map), and no name for a status never released.
func TestLatencyStatusesCounted(t *testing.T) {
	var s Shard
	const beyond = model.Status(statusesCountedDirectMax + 44)
	released := map[model.Status]int{model.StatusOK: 3, model.StatusAccountsLimitPerClientReached: 2,
		model.StatusLogUnavailable: 1, beyond: 4}
	s.latencies.lock()
	for status, count := range released {
		for range count {
			s.latencies.record(model.OperationCreateTransfers, status, 1500)
		}
	}
	s.latencies.unlock()
	latencies, statuses := s.Latencies()
	if len(statuses) != len(released) {
		t.Fatalf("statuses %v, want %d names", statuses, len(released))
	}
	for status, count := range released {
		if got := statuses[status.String()]; got != uint64(count) {
			t.Fatalf("status %s counted %d, want %d (all: %v)", status, got, count, statuses)
		}
	}
	if got := latencies[model.OperationCreateTransfers.String()].Count; got != 10 {
		t.Fatalf("%d latencies recorded, want 10", got)
	}
}
