package shard

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
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

// submitAccount submits client 7's write number (session 1), which creates account
// number, and fails the test if the shard refuses it.
func submitAccount(t *testing.T, s *Shard, number uint64) {
	t.Helper()
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Number: number, Operation: model.OperationCreateAccounts,
		Body: accountsBody(number)}); status != model.StatusOK {
		t.Fatalf("write %d: %s", number, status)
	}
}

// secondWriteAppended submits write 1 and waits for its reply, then holds log's
// durability and submits write 2, and returns once write 2 is appended (durable only at
// log.Release).
func secondWriteAppended(t *testing.T, s *Shard, replier *recordingReplier,
	log *wal.MemoryLog) {
	t.Helper()
	submitAccount(t, s, 1)
	replier.waitFor(t, 1)
	log.Hold()
	before := log.LastOp()
	submitAccount(t, s, 2)
	deadline := time.Now().Add(waitMax)
	for log.LastOp() == before {
		if time.Now().After(deadline) {
			t.Fatal("write 2 was never appended")
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
	secondWriteAppended(t, s, replier, log) // Then it parks: the window (one entry) is full.
	submitAccount(t, s, 3)                  // Waits in the ring.
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

// syncEndingLog is a memory log whose held entries become durable at one chosen moment:
// the first Durable call made, once armed, while the shard's ring holds a request. It
// answers that call with the durability from before, as a sync ending just after the
// read would.
type syncEndingLog struct {
	*wal.MemoryLog
	shard *Shard
	armed atomic.Bool
}

func (l *syncEndingLog) Durable() uint64 {
	durable := l.MemoryLog.Durable()
	if l.armed.Load() && l.shard.ring.depth() > 0 && l.armed.CompareAndSwap(true, false) {
		l.MemoryLog.Release()
	}
	return durable
}

// TestGroupCommitHoldStrandsNoRequest: a turn that leaves the ring alone for group
// commit (an entry appended, not durable yet: what arrives meanwhile makes the next
// entry) must take the ring once that entry is durable. When the sync ends between the
// hold's look at the log and the same round's release, the release delivers the entry,
// nothing is parked any more, and the sequencer slept without watching durability, the
// request's wake-up consumed: it waited for the next submission or pulse (an hour here,
// so the test waits out its hang guard; 100 ms by default).
func TestGroupCommitHoldStrandsNoRequest(t *testing.T) {
	log := &syncEndingLog{MemoryLog: wal.NewMemoryLog()}
	s, err := New(Config{UndurableEntriesMax: 1, PulseInterval: time.Hour},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	log.shard = s
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	secondWriteAppended(t, s, replier, log.MemoryLog) // Not durable: the next turn holds.
	// Wait until the sequencer waits (it holds turns otherwise), so that the next
	// Durable call with a request queued is the hold's.
	for !s.turns.TryLock() {
		time.Sleep(time.Millisecond)
	}
	s.turns.Unlock()
	log.armed.Store(true)
	submitAccount(t, s, 3)
	for _, reply := range replier.waitFor(t, 3)[1:] {
		if reply.Status != model.StatusOK {
			t.Fatalf("write %d answered %s", reply.Number, reply.Status)
		}
	}
}
