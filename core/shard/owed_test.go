package shard

import (
	"time"

	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestSubmitDeferredOwedOnlyWhenIdle: SubmitDeferredOwed owes the caller's TurnInline
// only for a request that left the sequencer asleep. Method: with the log holding
// durability, a write is parked, so the shard is busy; a read submitted then must owe
// nothing (it woke the sequencer, which answers it once the write is released, without
// any TurnInline). Once the sequencer waits with nothing parked, a read must be owed,
// and the TurnInline it is owed answers it. Before, every accepted request was treated
// as owing a turn, and under load the event loop lent itself a task per round of events
// (an allocation and a wake of its own eventfd) to find the sequencer at work.
func TestSubmitDeferredOwedOnlyWhenIdle(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	waitUntil(t, "the write appended", func() bool { return log.LastOp() >= 1 })
	lookup := func(session uint64) *backend.Request {
		return &backend.Request{Connection: session, Client: 7, Session: session, Number: 1,
			Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}
	}
	if status, owed := s.SubmitDeferredOwed(lookup(2)); status != model.StatusOK || owed {
		t.Fatalf("busy shard: status %s, owed %v; want ok and not owed", status, owed)
	}
	log.Release()
	replier.waitFor(t, 2) // The sequencer answered the read without a TurnInline.
	waitUntilParked(t, s)
	waitUntil(t, "the sequencer idle", func() bool { return s.idle.Load() })
	status, owed := s.SubmitDeferredOwed(lookup(3))
	if status != model.StatusOK || !owed {
		t.Fatalf("idle shard: status %s, owed %v; want ok and owed", status, owed)
	}
	s.TurnInline()
	replier.waitFor(t, 3)
}
