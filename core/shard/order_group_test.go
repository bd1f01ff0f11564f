package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
)

// TestOrderStopEntriesShareOneWrite: a turn whose take stops before a write of a
// connection with a read taken (takeUpTo's order stop) leaves its entry with the log
// unwritten (AppendDeferred) and takes the rest at once: the second entry is deferred
// too, and one WriteDeferred writes both (one group, one fdatasync on a real log). Before,
// the first went to Append with the ring not empty, which woke the log's writer to sync
// it alone, and the second waited for another sync. The replies are those of the requests
// in order, each once its entry is durable.
func TestOrderStopEntriesShareOneWrite(t *testing.T) {
	log := newInlineLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour, InlineTurnsOff: true}, log)
	submit := func(request backend.Request) {
		t.Helper()
		request.Client = 7
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit %+v: %s", request, status)
		}
	}
	submit(backend.Request{Connection: 1, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(60)})
	replier.waitFor(t, 1)
	deferredBefore, writtenBefore := len(log.deferred), log.written
	// Hold turns while queuing, so that one take finds all three: connection 2's write,
	// connection 1's read, then connection 1's write, which the take leaves for the next
	// turn (the read must not see it).
	waitUntilParked(t, s)
	s.turns.Lock()
	submit(backend.Request{Connection: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(61)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(62).Append(nil)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(62)})
	s.turns.Unlock()
	replies := replier.waitFor(t, 4)[1:]
	if deferred, written := len(log.deferred)-deferredBefore, log.written-writtenBefore; deferred != 2 || written != 1 {
		t.Fatalf("%d entries deferred and %d WriteDeferred calls for the two entries of "+
			"an order stop; want 2 and 1 (one group)", deferred, written)
	}
	if entries := s.Stats().Entries; entries < 3 {
		t.Fatalf("%d entries: the take did not stop for order", entries)
	}
	want := []struct {
		connection, number uint64
		results            int
	}{{2, 1, 1}, {1, 2, 0}, {1, 3, 1}}
	for i, reply := range replies {
		if reply.Connection != want[i].connection || reply.Number != want[i].number ||
			reply.Status != model.StatusOK {
			t.Fatalf("reply %d: %+v, want connection %d number %d ok", i, reply,
				want[i].connection, want[i].number)
		}
	}
	// The lookup of account 62 came before its creation on the same connection: found
	// nothing.
	if len(replies[1].Body) != 0 {
		t.Fatalf("the lookup saw the later create of its own connection: body %x",
			replies[1].Body)
	}
}
