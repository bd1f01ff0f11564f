package shard

import (
	"errors"
	"testing"
	"time"

	"sequent/core"
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

// TestParkedWriteReadThenFullLogRefusalKeepOrder: a create waits for its sync, then the
// log is full, and the same connection sends a lookup of that account and another create:
// the lookup sees the first create (applied), the second is refused log_unavailable, and
// the three replies come in request order (the refusal is parked behind the others).
func TestParkedWriteReadThenFullLogRefusalKeepOrder(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax}, log)
	requests := []backend.Request{
		{Number: 1, Operation: model.OperationCreateAccounts, Body: accountsBody(50)},
		{Number: 2, Operation: model.OperationLookupAccounts, Body: model.U128(50).Append(nil)},
		{Number: 3, Operation: model.OperationCreateAccounts, Body: accountsBody(51)},
	}
	for i, request := range requests {
		request.Connection, request.Client, request.Session = 1, 7, 1
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit %d: %s", request.Number, status)
		}
		if i == 0 {
			waitUntil(t, "the first entry to be appended", func() bool { return log.LastOp() == 1 })
			log.SetFull(true)
		}
	}
	waitUntil(t, "the ring to be taken", func() bool { return s.ring.depth() == 0 })
	waitUntilParked(t, s)
	if count := replier.count(); count != 0 {
		t.Fatalf("%d replies before the first entry is durable, want 0", count)
	}
	log.Release()
	replies := replier.waitFor(t, 3)
	replier.mutex.Lock()
	bodies := append([][]byte(nil), replier.bodies...)
	replier.mutex.Unlock()
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusLogUnavailable}
	for i, reply := range replies {
		if reply.Number != uint64(i+1) || reply.Status != want[i] {
			t.Fatalf("reply %d: number %d %s, want number %d %s", i, reply.Number,
				reply.Status, i+1, want[i])
		}
	}
	if len(bodies[1]) != model.AccountSize {
		t.Fatalf("the lookup found %d bytes, want the account its connection created first",
			len(bodies[1]))
	}
}

// TestTakeOrderKeepsEveryWordOfTheConnectionSet: the take's set of reading connections
// is 1,024 bits in 16 words; the network layer's ids carry their table slot in the low
// bits (slots of 64 and more are the common case) and a node router's are consecutive
// from 2^62. A read then a write of one connection must stop the take whichever word its
// bit is in, and connections in different words that share a bit position within the
// word must not stop it (order46's tests used connections below 64 only: checking or
// setting word 0 for every connection survived them).
func TestTakeOrderKeepsEveryWordOfTheConnectionSet(t *testing.T) {
	push := func(ring *inputRing, connection uint64, write bool) {
		t.Helper()
		request := backend.Request{Connection: connection, Client: 7, Number: 1,
			Operation: model.OperationLookupAccounts, Body: make([]byte, model.IDSize)}
		if write {
			request.Operation, request.Body = model.OperationCreateAccounts, accountsBody(1)
		}
		if status := ring.push(&request, write); status != model.StatusOK {
			t.Fatal(status)
		}
	}
	ring := newInputRing(1<<16, 16)
	for _, connection := range []uint64{70, 1023, 3<<32 | 700, 1<<62 + 200} {
		push(ring, connection, false)
		push(ring, connection, true)
		taken, _, ordered := ring.takeUpTo(nil, 16, 1<<20, true, anyBarriers)
		if len(taken) != 1 || !ordered {
			t.Fatalf("connection %#x: took %d (ordered %v), want its read alone, stopped "+
				"before its write", connection, len(taken), ordered)
		}
		ring.release(&taken[0])
		taken, _, _ = ring.takeUpTo(taken[:0], 16, 1<<20, true, anyBarriers)
		if len(taken) != 1 {
			t.Fatalf("connection %#x: took %d, want its write", connection, len(taken))
		}
		ring.release(&taken[0])
	}
	push(ring, 6, false)
	push(ring, 70, true) // Bit 6 of word 1; connection 6 has bit 6 of word 0.
	push(ring, 1<<62+64*15+6, true)
	taken, _, ordered := ring.takeUpTo(nil, 16, 1<<20, true, anyBarriers)
	if len(taken) != 3 || ordered {
		t.Fatalf("took %d (ordered %v), want all 3: other connections' writes", len(taken),
			ordered)
	}
	ring.release(&taken[len(taken)-1])
}

// TestHoldForGroupCommitResumesAfterAnOrderedTake: the turn after a take that stopped for
// a connection's order skips the group-commit hold once; the turn after that holds again
// as before (a flag left set would give up group commit for good). Turns are run by the
// test, the sequencer not started.
func TestHoldForGroupCommitResumesAfterAnOrderedTake(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, err := New(Config{PulseInterval: time.Hour, UndurableEntriesMax: 1},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	submit := func(connection uint64, number uint64, write bool, id uint64) {
		t.Helper()
		request := backend.Request{Connection: connection, Client: 7, Session: connection,
			Number: number, Operation: model.OperationLookupAccounts,
			Body: model.U128(id).Append(nil)}
		if write {
			request.Operation, request.Body = model.OperationCreateAccounts, accountsBody(id)
		}
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
	}
	turn := func() {
		t.Helper()
		if _, _, err := s.turn(); err != nil {
			t.Fatal(err)
		}
	}
	submit(1, 1, true, 60)
	submit(1, 2, false, 61)
	submit(1, 3, true, 61)
	turn() // The create and the lookup; stops before connection 1's second create.
	if !s.takeStoppedForOrder || s.ring.depth() != 1 {
		t.Fatalf("first turn: stopped for order %v, %d left, want true, 1",
			s.takeStoppedForOrder, s.ring.depth())
	}
	turn() // Not held: takes the second create.
	if s.heldForGroupCommit || s.ring.depth() != 0 || s.takeStoppedForOrder {
		t.Fatalf("second turn: held %v, %d left, stopped for order %v; want false, 0, false",
			s.heldForGroupCommit, s.ring.depth(), s.takeStoppedForOrder)
	}
	submit(2, 1, true, 62)
	turn() // Two entries wait for their sync: held again.
	if !s.heldForGroupCommit || s.ring.depth() != 1 {
		t.Fatalf("third turn: held %v, %d left; want true, 1 (group commit)",
			s.heldForGroupCommit, s.ring.depth())
	}
}

// TestInlineTurnKeepsReadBeforeWrite: an event loop's turn (TurnInline) on an idle shard
// takes a lookup and the later create of its account of one connection: the lookup finds
// nothing and is answered first, the create after it (the sequencer, woken, takes it).
func TestInlineTurnKeepsReadBeforeWrite(t *testing.T) {
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, wal.NewMemoryLog())
	waitUntilParked(t, s)
	for _, request := range []backend.Request{
		{Number: 1, Operation: model.OperationLookupAccounts, Body: model.U128(80).Append(nil)},
		{Number: 2, Operation: model.OperationCreateAccounts, Body: accountsBody(80)},
	} {
		request.Connection, request.Client, request.Session = 1, 7, 1
		if status := s.SubmitDeferred(&request); status != model.StatusOK {
			t.Fatalf("submit %d: %s", request.Number, status)
		}
	}
	s.TurnInline()
	replies := replier.waitFor(t, 2)
	replier.mutex.Lock()
	bodies := append([][]byte(nil), replier.bodies...)
	replier.mutex.Unlock()
	for i, reply := range replies {
		if reply.Number != uint64(i+1) || reply.Status != model.StatusOK {
			t.Fatalf("reply %d: number %d %s", i, reply.Number, reply.Status)
		}
	}
	if len(bodies[0]) != 0 {
		t.Fatalf("the lookup found %d bytes: it saw the create sent after it", len(bodies[0]))
	}
	if inline := s.Stats().InlineTurns; inline == 0 {
		t.Fatal("no turn ran inline: the test did not cover the loop's turn")
	}
}
