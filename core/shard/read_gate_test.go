package shard

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// gatedAcknowledger acknowledges everything and says whether reads may be answered; it
// counts the sequencer's release checks.
type gatedAcknowledger struct {
	notify chan struct{}
	reads  atomic.Bool
	checks atomic.Int64
}

func (g *gatedAcknowledger) Acknowledged() uint64 {
	g.checks.Add(1)
	return math.MaxUint64
}
func (g *gatedAcknowledger) AcknowledgedNotify() <-chan struct{} { return g.notify }
func (g *gatedAcknowledger) ReadsAllowed() bool                  { return g.reads.Load() }

// TestReadsWaitForTheReadGate: a primary whose witness lease ran out while it was stopped
// may have been replaced, and the new primary may have acknowledged writes this node
// never saw. Resumed, it must not answer a read from its state before its lease goroutine
// has fenced it (its goroutines resume in any order): reads wait while the acknowledger's
// ReadGate is closed, and go out once it opens. Writes the acknowledger covers are
// released as before.
func TestReadsWaitForTheReadGate(t *testing.T) {
	log := wal.NewMemoryLog()
	gate := &gatedAcknowledger{notify: make(chan struct{}, 1)}
	s, replier := startShard(t, Config{PulseInterval: time.Hour, Acknowledger: gate,
		ReadGate: gate}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusOK {
		t.Fatalf("write with the read gate closed: %s", reply.Status)
	}
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	waitUntil(t, "the read to be answered from the state", func() bool { return s.Stats().Queries >= 1 })
	checks := gate.checks.Load()
	waitUntil(t, "two later release checks", func() bool { // The second ends after a whole release.
		s.wakeUp()
		return gate.checks.Load() >= checks+2
	})
	if replier.count() != 1 {
		t.Fatal("a read went out while the read gate was closed")
	}
	gate.reads.Store(true)
	gate.notify <- struct{}{}
	if reply := replier.waitFor(t, 2)[1]; reply.Connection != 2 || reply.Status != model.StatusOK {
		t.Fatalf("the read once the gate opened: %+v", reply)
	}
}
