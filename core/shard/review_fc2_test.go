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

// Second review of a fenced shard's release (cancel45, reviewfc45). release checks the
// role once, before its loop, and the loop hands each slot's replies to the Replier and
// its events to the consumers before it looks at the next slot. Fence swaps the role from
// any goroutine (replication, the witness lease), so it may land between two slots of one
// release: the slots after it were still released ok, after Fence had returned.

// fenceOnFirstDeliver is a Replier that records replies and fences *shard from inside
// its first Deliver: the fence lands between two parked slots of one release.
type fenceOnFirstDeliver struct {
	*recordingReplier
	shard *Shard
	armed atomic.Bool
}

func (r *fenceOnFirstDeliver) Deliver(replies []backend.Reply) {
	if r.armed.CompareAndSwap(true, false) {
		r.shard.Fence(r.shard.Epoch()+1, "127.0.0.1:9999")
	}
	r.recordingReplier.Deliver(replies)
}

// TestFenceDuringReleaseReleasesNoOkAfterIt: two writes of two connections, each its own
// entry, wait for one sync (the log held, two undurable entries allowed, no acknowledger:
// async replication or a lone node under a witness lease). The sync ends and the release
// answers write 1; the fence lands as it does. Write 2 was then still released ok, on the
// deposed primary's own durability, after Fence had returned: an acknowledged write the
// new primary may never have had. role.go: a fenced shard can no longer acknowledge a
// write; release's own comment: it releases nothing once fenced. Write 2 must be
// answered outcome_unknown (answerFenced), and its entry not published to consumers.
func TestFenceDuringReleaseReleasesNoOkAfterIt(t *testing.T) {
	log := wal.NewMemoryLog()
	s, err := New(Config{PulseInterval: time.Hour, UndurableEntriesMax: 2},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	replier := &fenceOnFirstDeliver{recordingReplier: newRecordingReplier(), shard: s}
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	opBefore := log.LastOp()
	log.Hold()
	write := func(connection uint64, account uint64) {
		t.Helper()
		if status := s.Submit(&backend.Request{Connection: connection, Client: 7,
			Session: connection, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(account)}); status != model.StatusOK {
			t.Fatalf("submit on connection %d: %s", connection, status)
		}
	}
	write(1, 1)
	waitUntil(t, "write 1 in the log", func() bool { return log.LastOp() == opBefore+1 })
	write(2, 2)
	waitUntil(t, "write 2 in the log", func() bool { return log.LastOp() == opBefore+2 })
	waitUntilParked(t, s)
	replier.armed.Store(true)
	log.Release()
	replies := replier.waitFor(t, 2)
	if s.Role() != RoleFenced {
		t.Fatal("the fence never landed")
	}
	if replies[0].Connection != 1 || replies[1].Connection != 2 {
		t.Fatalf("replies to connections %d, %d; want 1, 2", replies[0].Connection,
			replies[1].Connection)
	}
	if replies[1].Status != model.StatusOutcomeUnknown {
		t.Fatalf("write 2, released after Fence returned, was answered %s, want "+
			"outcome_unknown", replies[1].Status)
	}
	if released := s.Released(); released > opBefore+1 {
		t.Fatalf("Released is op %d after the fence; the fence landed once op %d was "+
			"released", released, opBefore+1)
	}
}
