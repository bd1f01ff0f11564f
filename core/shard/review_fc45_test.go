package shard

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// Review of cancel45 (a fenced shard's turn refuses its ring). Fence is lock-free: it
// swaps the role word from any goroutine (replication, the witness lease) while the
// sequencer may be anywhere in its turn. The turn checks the role once, at its start;
// release never checks it. role.go promises that a fenced shard can no longer acknowledge
// a write, and doc.go that it logs nothing more of its own. These tests land the fence
// at the points the single check leaves open and look at what the shard does after
// Fence has returned.

// fenceOnClock returns a Config.Clock that fences *shard the first time it is read once
// armed: appendAndApply reads the clock after the turn's role check and before the append,
// so the fence lands exactly between them.
func fenceOnClock(shard **Shard, armed *atomic.Bool) func() uint64 {
	return func() uint64 {
		if armed.CompareAndSwap(true, false) {
			s := *shard
			s.Fence(s.Epoch()+1, "127.0.0.1:9999")
		}
		return uint64(time.Now().UnixNano())
	}
}

// startShardFencedBeforeItsAppend starts a primary without an acknowledger (async
// replication, or a lone node holding a witness lease), then submits one write and fences
// the shard after the turn that takes it has checked the role, before its append. It
// returns the log's last op before the write and the write's reply.
func startShardFencedBeforeItsAppend(t *testing.T) (opBefore uint64, reply backend.Reply,
	log *wal.MemoryLog) {
	t.Helper()
	log = wal.NewMemoryLog()
	var s *Shard
	var armed atomic.Bool
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		Clock: fenceOnClock(&s, &armed)}, log)
	opBefore = log.LastOp()
	armed.Store(true)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	reply = replier.waitFor(t, 1)[0]
	if armed.Load() || s.Role() != RoleFenced {
		t.Fatal("the clock was not read by the write's turn: the fence never landed")
	}
	return opBefore, reply, log
}

// TestFenceBeforeTheAppendReleasesNoOk: a fence landing between the turn's role check and
// its append. The write was appended under the old epoch, applied, and, durable in the
// deposed primary's own log, released ok after Fence had returned: an acknowledged write
// the new primary never had (refuseFenced's own reason for not logging the ring). It
// must be answered outcome_unknown, as answerFenced answers what is parked.
func TestFenceBeforeTheAppendReleasesNoOk(t *testing.T) {
	_, reply, _ := startShardFencedBeforeItsAppend(t)
	if reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("a write appended after the fence landed was answered %s, want "+
			"outcome_unknown", reply.Status)
	}
}

// TestFenceBeforeTheAppendLogsNothing: the same interleaving; the fenced shard must not
// append the write to its log under the old epoch (doc.go: a fenced shard logs nothing
// more of its own; it only lengthens the suffix the rejoin truncates).
func TestFenceBeforeTheAppendLogsNothing(t *testing.T) {
	opBefore, _, log := startShardFencedBeforeItsAppend(t)
	if op := log.LastOp(); op != opBefore {
		t.Fatalf("the shard logged ops %d to %d after it was fenced", opBefore+1, op)
	}
}

// TestWriteDurableAfterTheFenceIsNotReleasedOk: a write parked for its sync when the
// fence lands, made durable only after Fence returned (the sync ends as the fence comes,
// both before the sequencer runs again). Without an acknowledger the release that follows
// the fenced turn sent it ok, before answerFenced could answer it: acknowledged by a
// deposed primary after it was fenced, on its own durability alone.
func TestWriteDurableAfterTheFenceIsNotReleasedOk(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	opBefore := log.LastOp()
	log.Hold()
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	waitUntil(t, "the write in the log", func() bool { return log.LastOp() > opBefore })
	waitUntilParked(t, s)
	s.turns.Lock() // The sequencer waits: it sees the fence and the sync together.
	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	log.Release()
	s.turns.Unlock()
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("a write made durable after the fence was answered %s, want "+
			"outcome_unknown", reply.Status)
	}
}

// TestFencedShardAnswersInRequestOrder: write 1 of a connection is parked (sync mode,
// its standby gone) and write 2 queued behind it in the ring when the shard is fenced.
// Both are answered outcome_unknown, which PROTOCOL.md section 6 lists among the statuses
// answered after processing: those arrive in the order the requests were sent (and
// doc.go: one reply each, in log order per shard). refuseFenced answered the ring at the
// start of the turn, and answerFenced the parked write only after it, so write 2's reply
// overtook write 1's. Before cancel45 write 2 was parked behind write 1 and answered
// after it.
func TestFencedShardAnswersInRequestOrder(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		Acknowledger: &goneStandby{notify: make(chan struct{})}}, log)
	write := func(number uint64, account uint64) {
		t.Helper()
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts,
			Body: accountsBody(account)}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", number, status)
		}
	}
	write(1, 1)
	waitUntil(t, "write 1 in the log", func() bool { return log.LastOp() > 0 })
	waitUntilParked(t, s)
	s.turns.Lock() // Write 2 stays in the ring until the sequencer sees the fence.
	write(2, 2)
	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	s.turns.Unlock()
	replies := replier.waitFor(t, 2)
	for i, reply := range replies {
		if reply.Number != uint64(i+1) || reply.Status != model.StatusOutcomeUnknown {
			t.Fatalf("reply %d of a fenced shard: number %d, %s; want number %d, "+
				"outcome_unknown (replies in request order)", i, reply.Number, reply.Status, i+1)
		}
	}
}
