package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// waitWakeUpsConsumed waits (bounded) until the sequencer has taken every wake-up sent so
// far: it then runs, or is about to run, the turn they announced.
func waitWakeUpsConsumed(t *testing.T, s *Shard) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for len(s.wake) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer never woke")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGrantTableFillingTheWindowStrandsNoRequest: a request queued while the in-flight
// window is full is taken once the window opens, also when the first entry written then
// is a new grant table (a keys reload) that fills the window again and becomes durable
// before the same round's release. The turn that logged the table returned "took
// nothing", the release opened the window, and the sequencer went to sleep with the
// request in the ring, its wake-up consumed long before: it waited for the next
// submission or pulse (an hour here, so the test waits out its hang guard). The same
// happens, by timing, to a request submitted just after SetGrants with one entry in
// flight allowed (startTradingShard's first write).
func TestGrantTableFillingTheWindowStrandsNoRequest(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{InFlightEntriesMax: 1, PulseInterval: time.Hour}, log)
	submit := func(number uint64) {
		t.Helper()
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts,
			Body: accountsBody(number)}); status != model.StatusOK {
			t.Fatalf("write %d: %s", number, status)
		}
	}
	submit(1)
	replier.waitFor(t, 1)
	log.Hold()
	before := log.LastOp()
	submit(2)
	for log.LastOp() == before {
		time.Sleep(time.Millisecond) // Let it park: the window (one entry) is full.
	}
	submit(3) // Waits in the ring.
	// A keys reload: logged before any request submitted after it, after the one above.
	if err := s.SetGrants(model.AppendGrants(nil,
		[]model.Grant{{Client: 7, Scopes: model.ScopeOperator}})); err != nil {
		t.Fatal(err)
	}
	waitWakeUpsConsumed(t, s) // The window is still full: those turns take nothing.
	log.Release()             // Every entry durable from now on, at its append.
	for _, reply := range replier.waitFor(t, 3)[1:] {
		if reply.Status != model.StatusOK {
			t.Fatalf("write %d answered %s", reply.Number, reply.Status)
		}
	}
}
