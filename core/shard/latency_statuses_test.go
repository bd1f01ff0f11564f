package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
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

// TestApplyLatencyCountsEveryEntry: ApplyLatency counts one apply per log entry the
// sequencer writes (as BatchRequests and Stats.Entries count them), with its quantiles set.
// No pulse is due during the test, so no entry is written between the three reads.
func TestApplyLatencyCountsEveryEntry(t *testing.T) {
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, wal.NewMemoryLog())
	if q := s.ApplyLatency(); q.Count != 0 {
		t.Fatalf("before any request: %d applies counted, want 0", q.Count)
	}
	const requests = 3
	for number := uint64(1); number <= requests; number++ {
		s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(number)})
		replier.waitFor(t, int(number))
	}
	applies, entries := s.ApplyLatency(), s.Stats().Entries
	if applies.Count < requests || uint64(applies.Count) != entries ||
		applies.Count != s.BatchRequests().Count {
		t.Fatalf("%d applies counted, want %d (the entries written, at least %d; batches %d)",
			applies.Count, entries, requests, s.BatchRequests().Count)
	}
	if applies.P50 < 1 || applies.Max < applies.P50 || applies.Mean < 1 {
		t.Fatalf("quantiles not set: %+v", applies)
	}
}
