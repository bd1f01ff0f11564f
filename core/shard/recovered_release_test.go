package shard

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// settableAcknowledger is a standby whose acknowledged op the test moves; it counts the
// sequencer's release checks, so a test can wait for whole release passes.
type settableAcknowledger struct {
	acknowledged atomic.Uint64
	notify       chan struct{}
	checks       atomic.Int64
}

func (a *settableAcknowledger) Acknowledged() uint64 {
	a.checks.Add(1)
	return a.acknowledged.Load()
}
func (a *settableAcknowledger) AcknowledgedNotify() <-chan struct{} { return a.notify }

// acknowledge moves the acknowledged op and waits until the sequencer has run two whole
// release passes since (the second began after the move).
func (a *settableAcknowledger) acknowledge(t *testing.T, s *Shard, op uint64) {
	t.Helper()
	a.acknowledged.Store(op)
	checks := a.checks.Load()
	waitUntil(t, "two release checks", func() bool {
		s.wakeUp()
		return a.checks.Load() >= checks+2
	})
}

// firstRun runs a shard alone on a memory log and stops it: op 1 grants client 7 the
// operator scope, op 2 creates accounts 1 and 2. It returns the log and the state.
func firstRun(t *testing.T) (*wal.MemoryLog, *core.Machine) {
	t.Helper()
	log := wal.NewMemoryLog()
	machine := core.New(testMachineConfig)
	before, err := New(Config{PulseInterval: time.Hour}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	replies := newRecordingReplier()
	before.Start(RepliesOnly(replies))
	operatorGrants(t, before, 7) // Op 1.
	before.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)}) // Op 2.
	replies.waitFor(t, 1)
	before.Close()
	if machine.OpLast() != 2 {
		t.Fatalf("the first run ends at op %d, want 2", machine.OpLast())
	}
	return log, machine
}

// TestRecoveredEntriesWaitForTheStandby: a primary restarted in sync mode finds entries
// in its log that its standby may never have acknowledged (the old process wrote them,
// then died before the acknowledgement). They count as released, for the consumers (change
// capture stops its catch-up from the log at Released) and for the status, only once the
// standby has acknowledged them: were the standby promoted instead, it would not have
// them, and an event capture had published from them would announce a change that never
// happened, under an id (shard:op:index) the new primary's different entry then reuses.
// Released used to start at the recovered op whatever the standby had.
func TestRecoveredEntriesWaitForTheStandby(t *testing.T) {
	log, machine := firstRun(t)
	// The restart: same log and state, a standby that has acknowledged nothing yet.
	consumer := &recordingConsumer{}
	standby := &settableAcknowledger{notify: make(chan struct{}, 1)}
	s, err := New(Config{PulseInterval: time.Hour, Consumers: []backend.Consumer{consumer},
		Acknowledger: standby}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.Released() != 0 || s.Stats().Released != 0 {
		t.Fatalf("before start: released %d (stats %d), want 0: the standby acknowledged nothing",
			s.Released(), s.Stats().Released)
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	standby.acknowledge(t, s, 0)
	if s.Released() != 0 {
		t.Fatalf("running: released %d, want 0: the standby acknowledged nothing", s.Released())
	}
	standby.acknowledge(t, s, 1)
	if s.Released() != 1 || s.Stats().Released != 1 {
		t.Fatalf("released %d (stats %d), want 1: what the standby acknowledged",
			s.Released(), s.Stats().Released)
	}
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(3)}) // Op 3.
	standby.acknowledge(t, s, 2)
	if s.Released() != 2 || replier.count() != 0 {
		t.Fatalf("released %d, %d replies: want 2 and op 3's reply still waiting",
			s.Released(), replier.count())
	}
	standby.acknowledge(t, s, 3)
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusOK || s.Released() != 3 {
		t.Fatalf("reply %+v, released %d", reply, s.Released())
	}
	// The recovered entries are never handed out again (capture rebuilds them from the
	// log; market data starts after them): consumers see op 3 only.
	if readies, _ := consumer.snapshot(); len(readies) != 1 || readies[0] != [2]uint64{3, 3} {
		t.Fatalf("consumer was handed %v, want op 3 only", readies)
	}
}

// TestFailedLogAfterRestartRefusesReads: a restarted sync primary whose log fails before
// the standby has acknowledged the recovered entries holds state of unknown outcome (a
// failover may undo those entries), so it refuses reads (log_unavailable) as it does when
// any applied entry is unreleased. It used to count the recovered entries as released
// and answer reads showing them.
func TestFailedLogAfterRestartRefusesReads(t *testing.T) {
	log, machine := firstRun(t)
	standby := &settableAcknowledger{notify: make(chan struct{}, 1)}
	s, err := New(Config{PulseInterval: time.Hour, Acknowledger: standby}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(newRecordingReplier()))
	t.Cleanup(func() { s.Close() })
	log.Fail(errors.New("disk gone"))
	waitUntil(t, "the shard to see the failure", func() bool {
		s.wakeUp()
		return s.Err() != nil
	})
	if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}); status !=
		model.StatusLogUnavailable {
		t.Fatalf("a read after the failure: %s, want log_unavailable: account 1 (op 2) was "+
			"never acknowledged by the standby", status)
	}
}

// TestIdleSequencerIgnoresAcknowledgements: with nothing parked, a standby's
// acknowledgement wakes nobody (in async mode each one woke the sequencer for a pass
// that found nothing to release); the signal stays for when output is parked, and
// requests are still answered.
func TestIdleSequencerIgnoresAcknowledgements(t *testing.T) {
	standby := &settableAcknowledger{notify: make(chan struct{}, 1)}
	standby.acknowledged.Store(^uint64(0)) // Holds nothing back.
	s, err := New(Config{PulseInterval: time.Hour, Acknowledger: standby},
		core.New(testMachineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	replies := newRecordingReplier()
	s.Start(RepliesOnly(replies))
	defer s.Close()
	operatorGrants(t, s, 7)
	waitUntilParked(t, s) // The sequencer waits, nothing parked.
	checks := standby.checks.Load()
	standby.notify <- struct{}{} // Buffer empty: only the sequencer reads it.
	s.wakeUp()
	waitUntil(t, "a release pass after the wake-up", func() bool {
		return standby.checks.Load() > checks
	})
	waitUntilParked(t, s)
	if pending := len(standby.notify); pending != 1 {
		t.Fatalf("the idle sequencer took the acknowledgement signal (%d left, want 1)", pending)
	}
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	if reply := replies.waitFor(t, 1)[0]; reply.Status != model.StatusOK {
		t.Fatalf("reply %s", reply.Status)
	}
}
