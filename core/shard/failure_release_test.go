package shard

import (
	"errors"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// failingAtAppend is a held MemoryLog whose append of failAt makes the entries before it
// durable and then fails, in one step: the writer's last fdatasync covered them and its
// next write failed, and the sequencer meets the failure in its append, before any
// release has seen them durable.
type failingAtAppend struct {
	*wal.MemoryLog
	failAt uint64
}

func (f *failingAtAppend) Append(e wal.Entry) error {
	if e.FirstOp == f.failAt {
		if err := f.FailAfter(e.FirstOp-1, errors.New("write failed")); err != nil {
			return err
		}
	}
	return f.MemoryLog.Append(e)
}

// TestLogFailureInATurnReleasesDurableRepliesFirst: the log makes op 1 durable, then
// fails; the sequencer meets the failure in the append of its next turn before it has
// released op 1. Op 1 is durable for good, so its reply must say what happened (ok),
// not outcome_unknown; and with nothing of unknown outcome in the state, reads go on.
func TestLogFailureInATurnReleasesDurableRepliesFirst(t *testing.T) {
	log := &failingAtAppend{MemoryLog: wal.NewMemoryLog(), failAt: 2}
	log.Hold()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	waitUntil(t, "the first entry to be appended", func() bool { return log.LastOp() == 1 })
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	replies := replier.waitFor(t, 2)
	if replies[0].Connection != 1 || replies[0].Status != model.StatusOK {
		t.Fatalf("durable write before the failure: %+v, want ok", replies[0])
	}
	if replies[1].Connection != 2 || replies[1].Status != model.StatusLogUnavailable {
		t.Fatalf("write whose append failed: %+v, want log_unavailable", replies[1])
	}
	status, _, err := s.Query(model.OperationLookupAccounts, model.U128(1).Append(nil),
		waitMax)
	if err != nil || status != model.StatusOK {
		t.Fatalf("read after the failure with everything released: %s, %v; want ok", status, err)
	}
}
