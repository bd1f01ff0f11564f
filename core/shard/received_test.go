package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestLatencyFromReceivedStamp: a request stamped with Received (the network layer's one
// clock read per socket read) has its receive → release latency counted from that
// stamp, not from when the shard queued it; one without a stamp from when it was
// queued. Method: one request stamped ten seconds in the past and one unstamped, each the
// only create_accounts or lookup_accounts request; the first's latency must be at
// least ten seconds (by construction, whatever the machine's speed), the second's far
// below it. Without the stamp's use both were below that.
func TestLatencyFromReceivedStamp(t *testing.T) {
	s, replier := startShard(t, Config{}, wal.NewMemoryLog())
	const past = 10 * time.Second
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1),
		Received: time.Now().Add(-past)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	replier.waitFor(t, 1)
	if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts,
		Body:      model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("submit lookup: %s", status)
	}
	replier.waitFor(t, 2)
	latencies, _ := s.Latencies()
	stamped, unstamped := latencies["create_accounts"], latencies["lookup_accounts"]
	if stamped.Count != 1 || stamped.Max < past.Microseconds() {
		t.Fatalf("stamped request: %+v, want one of at least %d µs", stamped,
			past.Microseconds())
	}
	if unstamped.Count != 1 || unstamped.Max >= past.Microseconds() {
		t.Fatalf("unstamped request: %+v, want one below %d µs", unstamped,
			past.Microseconds())
	}
}
