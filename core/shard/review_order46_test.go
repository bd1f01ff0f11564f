package shard

import (
	"errors"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// Review of order46 (reviewor46): PROTOCOL.md section 6, replies to one connection's
// processed requests arrive in the order the requests were sent.

// TestLogFailureAnswersQueuedReadBeforeLaterWrite: a lookup, then a create, of one
// connection wait in the ring (the in-flight window is full) when the log fails with
// every applied entry durable: the lookup is answered from the state and the create
// refused log_unavailable, and the lookup's reply must come first. Before the fix
// answerQueuedAfterFailure sent every refusal of the take ahead of its reads.
func TestLogFailureAnswersQueuedReadBeforeLaterWrite(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{PulseInterval: time.Hour, InFlightEntriesMax: 1}, log)
	submit := func(request backend.Request) {
		t.Helper()
		request.Client = 7
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit %+v: %s", request, status)
		}
	}
	submit(backend.Request{Connection: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(40)})
	waitUntil(t, "the first entry to be appended", func() bool { return log.LastOp() == 1 })
	// The window is full: these stay in the ring until the failure is met.
	submit(backend.Request{Connection: 1, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(40).Append(nil)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(41)})
	if err := log.FailAfter(1, errors.New("write failed")); err != nil {
		t.Fatal(err)
	}
	replies := replier.waitFor(t, 3)
	var numbers []uint64
	for _, reply := range replies {
		if reply.Connection == 1 {
			numbers = append(numbers, reply.Number)
		}
	}
	if len(numbers) != 2 || numbers[0] != 1 || numbers[1] != 2 {
		t.Fatalf("connection 1's replies came as numbers %v, want [1 2] (replies %+v)",
			numbers, replies)
	}
	for _, reply := range replies {
		want := model.StatusOK
		if reply.Connection == 1 && reply.Number == 2 {
			want = model.StatusLogUnavailable
		}
		if reply.Status != want {
			t.Fatalf("reply %+v, want status %s", reply, want)
		}
	}
}
