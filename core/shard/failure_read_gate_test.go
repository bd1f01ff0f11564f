package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestReadsAfterALogFailureWaitForTheReadGate: a primary past its witness lease (its read
// gate closed: it may have been replaced, and the new primary may have acknowledged
// writes this node never saw) whose log then fails with every applied entry released.
// Reads after the failure are answered at once from the state, but only where a read
// would be answered without the failure: with the gate closed a read from this state may
// miss writes acknowledged elsewhere, so it must be refused (log_unavailable, which the
// client resends, to the new primary after a failover) rather than answered ok.
func TestReadsAfterALogFailureWaitForTheReadGate(t *testing.T) {
	log := &failingAtAppend{MemoryLog: wal.NewMemoryLog(), failAt: 2}
	gate := &gatedAcknowledger{notify: make(chan struct{}, 1)}
	s, replier := startShard(t, Config{PulseInterval: time.Hour, Acknowledger: gate,
		ReadGate: gate}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusOK {
		t.Fatalf("write with the read gate closed: %s", reply.Status)
	}
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	if reply := replier.waitFor(t, 2)[1]; reply.Status != model.StatusLogUnavailable {
		t.Fatalf("write whose append failed: %s, want log_unavailable", reply.Status)
	}
	if !s.readsSafe.Load() {
		t.Fatal("every applied entry was released, yet the state is not taken as safe")
	}
	status := s.Submit(&backend.Request{Connection: 3, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	if status != model.StatusOK {
		if status != model.StatusLogUnavailable {
			t.Fatalf("read refused at once with %s, want log_unavailable", status)
		}
		return
	}
	if reply := replier.waitFor(t, 3)[2]; reply.Connection != 3 ||
		reply.Status != model.StatusLogUnavailable {
		t.Fatalf("read after the failure with the read gate closed: %+v, want "+
			"log_unavailable", reply)
	}
}
