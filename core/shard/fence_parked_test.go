package shard

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// goneStandby is the Acknowledger of a primary in sync mode whose standby has gone:
// nothing is ever acknowledged.
type goneStandby struct{ notify chan struct{} }

func (g *goneStandby) Acknowledged() uint64                { return 0 }
func (g *goneStandby) AcknowledgedNotify() <-chan struct{} { return g.notify }

// TestFencedShardAnswersItsParkedWrites: a primary in sync mode parks a write until the
// standby acknowledges it; the standby is promoted instead (or the primary's witness
// lease runs out) and the primary is fenced. The standby may hold the entry or not, and
// this node will never release it: the write must be answered outcome_unknown at once,
// so that its client resends it (and follows the not_primary redirect to the new
// primary, where it is answered from the replicated cache or applied once). It used to
// stay parked until the node was closed, while the client's connection stayed up
// (heartbeats flow): a client whose window was full of such writes never sent another
// request to learn of the redirect, and hung.
func TestFencedShardAnswersItsParkedWrites(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		Acknowledger: &goneStandby{notify: make(chan struct{})}}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	waitUntil(t, "the write in the log", func() bool { return log.LastOp() > 0 })
	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("the parked write of a fenced primary: %s, want outcome_unknown", reply.Status)
	}
}

// TestCloseAnswersParkedWritesOutcomeUnknown: a primary in sync mode whose standby has
// gone parks a write, durable in its own log but never acknowledged, and is closed (a
// shutdown). The write is applied when the node restarts from its log (or by the
// standby, had it received it): its reply must be outcome_unknown, which a client
// resends until a definite answer. It used to be shutting_down, which tells a client
// that nothing was queued (PROTOCOL.md §6, refused at once): the Go client hands that to
// its caller as a refusal, for a write that is applied.
func TestCloseAnswersParkedWritesOutcomeUnknown(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		CloseTimeout: 100 * time.Millisecond,
		Acknowledger: &goneStandby{notify: make(chan struct{})}}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	waitUntil(t, "the write durable in the log", func() bool { return log.Durable() > 0 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reply := replier.waitFor(t, 1)[0]
	machine, _, err := Recover(testMachineConfig, log, "",
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != model.StatusOutcomeUnknown {
		t.Fatalf("the parked write at Close: %s, want outcome_unknown (restarted from the "+
			"log, the node holds %d account)", reply.Status, machine.Ledger().AccountCount())
	}
}

// lateStandby is an Acknowledger whose acknowledgement the test raises by hand: the
// standby's last acknowledgement, arriving after the fence.
type lateStandby struct {
	acknowledged atomic.Uint64
	notify       chan struct{}
}

func (l *lateStandby) Acknowledged() uint64                { return l.acknowledged.Load() }
func (l *lateStandby) AcknowledgedNotify() <-chan struct{} { return l.notify }

// TestFencedWriteIsAnsweredOnce: a primary in sync mode parks a write (and a read behind
// it); it is fenced, and answers both outcome_unknown, the read with no body. The
// standby's acknowledgement of the write then arrives late, and the shard is closed: the
// write must not be released a second time (ok after outcome_unknown, to the same
// connection), nor answered again at Close. The sequencer alone owns the parked list,
// so the fence's answer removes the entry before any later release could see it.
func TestFencedWriteIsAnsweredOnce(t *testing.T) {
	log := wal.NewMemoryLog()
	standby := &lateStandby{notify: make(chan struct{}, 1)}
	s, replier := startShard(t, Config{PulseInterval: time.Hour, CloseTimeout: time.Minute,
		Acknowledger: standby}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	waitUntil(t, "the write in the log", func() bool { return log.LastOp() > 0 })
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("submit the read: %s", status)
	}
	waitUntil(t, "the read taken", func() bool { return s.Stats().Queries > 0 })
	releasedBefore := s.Stats().Released
	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	replies := replier.waitFor(t, 2)
	for _, reply := range replies {
		if reply.Status != model.StatusOutcomeUnknown {
			t.Fatalf("%s of a fenced primary: %s, want outcome_unknown", reply.Operation,
				reply.Status)
		}
	}
	replier.mutex.Lock()
	readBody := len(replier.bodies[1])
	replier.mutex.Unlock()
	if readBody != 0 {
		t.Fatalf("the read was answered with %d bytes of state", readBody)
	}
	standby.acknowledged.Store(log.LastOp())
	standby.notify <- struct{}{}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if count := replier.count(); count != 2 {
		t.Fatalf("%d replies after the late acknowledgement and Close, want 2", count)
	}
	if released := s.Stats().Released; released != releasedBefore {
		t.Fatalf("op %d counted as released by a fenced primary (was %d)", released,
			releasedBefore)
	}
}
