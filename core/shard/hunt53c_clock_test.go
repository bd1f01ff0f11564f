package shard

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestHunt53cClockBehindTheLogAfterRestart: the wall clock at a restart is below the
// log's last timestamp (an NTP step back, a VM restored from an image) and the log's last
// entry took no timestamp of its own (a grant table here; a pulse does the same). The
// restarted shard must stamp its next entry above the log's last one, not panic in the
// log's chain check or stall.
func TestHunt53cClockBehindTheLogAfterRestart(t *testing.T) {
	log := wal.NewMemoryLog()
	ahead := uint64(2_000_000_000_000_000_000)
	first, _ := startShard(t, Config{Clock: func() uint64 { return ahead }}, log)
	operatorGrants(t, first, 7)
	waitUntil(t, "the grants logged", func() bool { return log.LastOp() >= 1 })
	first.Close()
	var lastStamp uint64
	if err := log.Read(0, func(e *wal.Entry) error { lastStamp = e.Timestamp; return nil }); err != nil {
		t.Fatal(err)
	}
	machine, _, err := Recover(testMachineConfig, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log's last timestamp %d, recovered machine clock %d", lastStamp, machine.Clock())
	behind := uint64(1_000_000_000_000_000_000)
	second, replier := startShardOf(t, Config{Clock: func() uint64 { return behind }}, machine, log)
	second.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	replier.waitFor(t, 1)
	logStampsIncreasing(t, log)
}

// TestHunt53cClockStepsBackWhileRunning: the wall clock steps back an hour between two
// writes of a running shard. The writes are taken and stamped strictly above the log's
// last timestamp (one nanosecond at a time while the clock is behind), and a pending
// transfer with a 1 s timeout does not expire on the step back, only once the clock
// passes its deadline.
func TestHunt53cClockStepsBackWhileRunning(t *testing.T) {
	log := wal.NewMemoryLog()
	var now atomic.Uint64
	now.Store(5_000_000_000_000_000_000)
	s, replier := startShard(t, Config{Clock: now.Load, PulseInterval: time.Millisecond}, log)
	operatorGrants(t, s, 7)
	submit := func(number uint64, operation model.Operation, body []byte) {
		t.Helper()
		s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: operation, Body: body})
		replier.waitFor(t, int(number))
	}
	submit(1, model.OperationCreateAccounts, plainAccountsBody(1, 2))
	submit(2, model.OperationCreateTransfers, transferBody(10, 1, 2, 5, model.TransferPending, 1))
	now.Add(^uint64(uint64(time.Hour) - 1)) // An hour back.
	submit(3, model.OperationCreateTransfers, transferBody(11, 1, 2, 3, 0, 0))
	for i, body := range replier.bodies[1:3] {
		var result model.EventResult
		result.Decode(body)
		if result.Status != model.StatusOK {
			t.Fatalf("transfer %d: %s", i+10, result.Status)
		}
	}
	submit(4, model.OperationLookupAccounts, model.U128(1).Append(nil))
	var account model.Account
	account.Decode(replier.bodies[3])
	if account.DebitsPending.Lo != 5 {
		t.Fatalf("the pending transfer expired on a clock step back: %+v", account)
	}
	now.Add(uint64(time.Hour + 2*time.Second)) // Past the pending transfer's deadline.
	waitUntil(t, "a pulse past the deadline", func() bool {
		var last uint64
		log.Read(0, func(e *wal.Entry) error { last = e.Timestamp; return nil })
		return last >= now.Load()
	})
	submit(5, model.OperationLookupAccounts, model.U128(1).Append(nil))
	account.Decode(replier.bodies[4])
	if !account.DebitsPending.IsZero() || account.DebitsPosted.Lo != 3 {
		t.Fatalf("after the clock passed the deadline: %+v", account)
	}
	logStampsIncreasing(t, log)
}

// logStampsIncreasing fails the test unless each entry of log is stamped above the one
// before it, and returns the entries' timestamps.
func logStampsIncreasing(t *testing.T, log *wal.MemoryLog) []uint64 {
	t.Helper()
	var stamps []uint64
	if err := log.Read(0, func(e *wal.Entry) error { stamps = append(stamps, e.Timestamp); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i] <= stamps[i-1] {
			t.Fatalf("entry %d stamped %d after %d", i+1, stamps[i], stamps[i-1])
		}
	}
	return stamps
}
