package shard

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// Session 46 (hunt46b, fixed by order46): PROTOCOL.md section 6, one connection's
// requests are processed, and answered, in the order received. A turn answers its reads
// against the state after its whole entry and after the entry's replies, so a read taken
// in the same turn as a later write of its connection saw that write and was answered
// after it. The take (inputRing.takeUpTo) now stops before such a write.

// orderRequest is one request of these tests: a lookup or a create of account id, sent
// on connection (client 7, the connection's number as session).
type orderRequest struct {
	connection uint64
	number     uint64
	write      bool
	id         uint64
}

// submitThenStart queues requests into a shard that has not started, so that its first
// turn finds them all in the ring at once, starts it and returns it with every reply.
func submitThenStart(t *testing.T, requests []orderRequest) (*Shard, []backend.Reply,
	[][]byte) {
	t.Helper()
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range requests {
		request := backend.Request{Connection: r.connection, Client: 7, Session: r.connection,
			Number: r.number, Operation: model.OperationLookupAccounts, Body: model.U128(r.id).Append(nil)}
		if r.write {
			request.Operation, request.Body = model.OperationCreateAccounts, accountsBody(r.id)
		}
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit %+v: %s", r, status)
		}
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	replies := replier.waitFor(t, len(requests))
	replier.mutex.Lock()
	defer replier.mutex.Unlock()
	return s, replies, append([][]byte(nil), replier.bodies...)
}

// checkConnectionOrder fails unless every connection's replies came in its requests'
// order, every status is ok, and each lookup found its account exactly when found says.
func checkConnectionOrder(t *testing.T, requests []orderRequest, replies []backend.Reply,
	bodies [][]byte, found func(r orderRequest) bool) {
	t.Helper()
	next := map[uint64]int{} // Connection → index into requests of its next reply.
	for i, reply := range replies {
		index := next[reply.Connection]
		for index < len(requests) && requests[index].connection != reply.Connection {
			index++
		}
		if index == len(requests) || requests[index].number != reply.Number {
			t.Fatalf("reply %d: connection %d number %d, out of its connection's order "+
				"(replies %+v)", i, reply.Connection, reply.Number, replies)
		}
		next[reply.Connection] = index + 1
		r := requests[index]
		if reply.Status != model.StatusOK {
			t.Fatalf("connection %d number %d: %s", r.connection, r.number, reply.Status)
		}
		if !r.write && (len(bodies[i]) != 0) != found(r) {
			t.Fatalf("connection %d number %d: lookup of %d found %d bytes, want found %v",
				r.connection, r.number, r.id, len(bodies[i]), found(r))
		}
	}
}

// TestReadBeforeWriteOfOneConnectionInOneTurn: a lookup, then the create of its account,
// on one connection, taken by one turn: the lookup must find nothing and be answered
// first. Before the fix it found the account and came second.
func TestReadBeforeWriteOfOneConnectionInOneTurn(t *testing.T) {
	requests := []orderRequest{{connection: 1, number: 1, id: 10},
		{connection: 1, number: 2, write: true, id: 10}}
	s, replies, bodies := submitThenStart(t, requests)
	checkConnectionOrder(t, requests, replies, bodies, func(orderRequest) bool { return false })
	if entries := s.Stats().Entries; entries != 1 {
		t.Fatalf("%d entries, want 1 (the read answered alone, then the write)", entries)
	}
}

// TestWriteThenReadOfOneConnectionInOneTurn: a create, then the lookup of its account, on
// one connection: one entry, the lookup answered after the create and seeing it.
func TestWriteThenReadOfOneConnectionInOneTurn(t *testing.T) {
	requests := []orderRequest{{connection: 1, number: 1, write: true, id: 11},
		{connection: 1, number: 2, id: 11}, {connection: 1, number: 3, write: true, id: 12}}
	s, replies, bodies := submitThenStart(t, requests)
	checkConnectionOrder(t, requests, replies, bodies, func(orderRequest) bool { return true })
	if entries := s.Stats().Entries; entries != 2 {
		t.Fatalf("%d entries, want 2 (the third request is a write behind a read)", entries)
	}
}

// TestPipelinedReadWritePairsOfOneConnection: the hunter's pattern in the shard, lookup
// then create of each id, 16 times on one connection: every lookup finds nothing, and
// every reply comes in request order.
func TestPipelinedReadWritePairsOfOneConnection(t *testing.T) {
	var requests []orderRequest
	for i := range uint64(16) {
		requests = append(requests, orderRequest{connection: 1, number: 2*i + 1, id: 100 + i},
			orderRequest{connection: 1, number: 2*i + 2, write: true, id: 100 + i})
	}
	_, replies, bodies := submitThenStart(t, requests)
	for i, reply := range replies {
		if reply.Number != uint64(i+1) {
			t.Fatalf("reply %d is number %d", i, reply.Number)
		}
	}
	checkConnectionOrder(t, requests, replies, bodies, func(orderRequest) bool { return false })
}

// TestOtherConnectionsWriteDoesNotEndTheEntry: no order is promised between connections,
// so connection 2's create behind connection 1's lookup stays in the same entry (the
// lookup, concurrent with it, may see it: it does), and only connection 1's own write
// behind its lookup starts a new entry.
func TestOtherConnectionsWriteDoesNotEndTheEntry(t *testing.T) {
	requests := []orderRequest{{connection: 1, number: 1, id: 20},
		{connection: 2, number: 1, write: true, id: 20},
		{connection: 2, number: 2, id: 20},
		{connection: 3, number: 1, write: true, id: 21},
		{connection: 1, number: 2, write: true, id: 22},
		{connection: 1, number: 3, id: 22}}
	s, replies, bodies := submitThenStart(t, requests)
	checkConnectionOrder(t, requests, replies, bodies, func(orderRequest) bool { return true })
	if entries := s.Stats().Entries; entries != 2 {
		t.Fatalf("%d entries, want 2 (split only at connection 1's write)", entries)
	}
}

// TestTakeKeepsReadsBeforeWritesPerConnection: the ring's take for a turn stops before a
// write of a connection with a read taken, also one that only shares the read's bit
// (a needless stop, never a missed one), and not before another connection's write;
// the refusal paths' take stops for none of it.
func TestTakeKeepsReadsBeforeWritesPerConnection(t *testing.T) {
	push := func(ring *inputRing, connection uint64, write bool) {
		request := backend.Request{Connection: connection, Client: 7, Number: 1,
			Operation: model.OperationLookupAccounts, Body: make([]byte, model.IDSize)}
		if write {
			request.Operation = model.OperationCreateAccounts
			request.Body = accountsBody(1)
		}
		if status := ring.push(&request, write); status != model.StatusOK {
			t.Fatal(status)
		}
	}
	ring := newInputRing(1<<16, 16)
	push(ring, 1, true)  // A write first: taken.
	push(ring, 1, false) // Its read: taken.
	push(ring, 2, true)  // Another connection's write: taken.
	push(ring, 1, true)  // Connection 1's write behind its read: the take stops.
	taken, _, ordered := ring.takeUpTo(nil, 16, 1<<20, true, anyBarriers)
	if len(taken) != 3 || !ordered {
		t.Fatalf("took %d (ordered %v), want 3, stopped for order", len(taken), ordered)
	}
	ring.release(&taken[len(taken)-1])
	push(ring, 5, false)
	push(ring, 5+readingConnectionsBits, true) // Shares connection 5's bit.
	taken, _, ordered = ring.takeUpTo(taken[:0], 16, 1<<20, true, anyBarriers)
	if len(taken) != 2 || !ordered || taken[0].connection != 1 {
		t.Fatalf("took %d (ordered %v), want connection 1's write and 5's read", len(taken),
			ordered)
	}
	ring.release(&taken[len(taken)-1])
	taken, _, ordered = ring.takeUpTo(taken[:0], 16, 1<<20, true, anyBarriers)
	if len(taken) != 1 || ordered {
		t.Fatalf("took %d (ordered %v), want the last write alone", len(taken), ordered)
	}
	ring.release(&taken[len(taken)-1])
	push(ring, 1, false)
	push(ring, 1, true)
	if taken, _ = ring.take(taken[:0], 16, 1<<20); len(taken) != 2 {
		t.Fatalf("the refusal paths' take took %d, want both", len(taken))
	}
}

// TestRestOfAnOrderedTakeIsNotHeld: what a take left to keep a read before its
// connection's write is taken by the next turn at once, not held for group commit until
// the entry before it is durable (each such stop would cost a whole sync). With the
// log's durability held, both entries must be appended before the sequencer first waits;
// held, the second write waited in the ring.
func TestRestOfAnOrderedTakeIsNotHeld(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, err := New(Config{PulseInterval: time.Hour, UndurableEntriesMax: 1},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	for _, request := range []backend.Request{
		{Number: 1, Operation: model.OperationCreateAccounts, Body: accountsBody(30)},
		{Number: 2, Operation: model.OperationLookupAccounts, Body: model.U128(31).Append(nil)},
		{Number: 3, Operation: model.OperationCreateAccounts, Body: accountsBody(31)},
	} {
		request.Connection, request.Client, request.Session = 1, 7, 1
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit %d: %s", request.Number, status)
		}
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	deadline := time.Now().Add(waitMax)
	for log.LastOp() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first entry was never appended")
		}
		time.Sleep(time.Millisecond)
	}
	waitUntilParked(t, s) // The sequencer let turns go: it waits.
	if depth, last := s.ring.depth(), log.LastOp(); depth != 0 || last != 2 {
		t.Fatalf("sequencer waits with %d requests in the ring, log at op %d: want 0, op 2",
			depth, last)
	}
	log.Release()
	for i, reply := range replier.waitFor(t, 3) {
		if reply.Number != uint64(i+1) || reply.Status != model.StatusOK {
			t.Fatalf("reply %d: number %d %s", i, reply.Number, reply.Status)
		}
	}
}
