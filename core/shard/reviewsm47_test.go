package shard

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

// accountRange returns ids first, first+1, ... count of them.
func accountRange(first uint64, count int) []uint64 {
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = first + uint64(i)
	}
	return ids
}

// TestOrderStopEntryDefersTheNextWithInputLeft: after a turn stopped for order, the next
// turn's entry joins the deferred one even when the ring still holds input (here: what
// the entry's byte budget left), since telling the log of it would have the writer write
// the deferred entry alone (append: "With an entry deferred already, the next ones are
// deferred after it, whatever the ring holds"). TestOrderStopEntriesShareOneWrite empties
// the ring in its second turn, so append's !s.deferred term could go unnoticed: dropped,
// the second entry goes to Append, which this fake log never makes durable on its own
// (the next turn then holds for group commit), and the replies never come.
func TestOrderStopEntryDefersTheNextWithInputLeft(t *testing.T) {
	log := newInlineLog()
	entryBytesMax := core.EncodedRequestSize(model.RequestBodyBytesMax)
	s, replier := startShard(t, Config{PulseInterval: time.Hour, InlineTurnsOff: true,
		EntryBytesMax: entryBytesMax}, log)
	submit := func(request backend.Request) {
		t.Helper()
		request.Client = 7
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit connection %d number %d: %s", request.Connection,
				request.Number, status)
		}
	}
	submit(backend.Request{Connection: 1, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(60)})
	replier.waitFor(t, 1)
	waitUntilParked(t, s)
	// Turns held, so that the turns below find all of it: the first takes connection 2's
	// create and connection 1's lookup and stops for order at connection 1's create; the
	// second takes that and connection 3's large create, and connection 4's, as large,
	// does not fit its byte budget: it stays in the ring for a third turn.
	large := model.EventsPerRequestMax * 6 / 10
	s.turns.Lock()
	submit(backend.Request{Connection: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(61)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(62).Append(nil)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(62)})
	submit(backend.Request{Connection: 3, Session: 3, Number: 1,
		Operation: model.OperationCreateAccounts,
		Body:      accountsBody(accountRange(100_000, large)...)})
	submit(backend.Request{Connection: 4, Session: 4, Number: 1,
		Operation: model.OperationCreateAccounts,
		Body:      accountsBody(accountRange(200_000, large)...)})
	waitUntil(t, "the sequencer to wake", func() bool { return !s.idle.Load() })
	select { // Stale wake-ups, as in queueOrderStop.
	case <-s.wake:
	default:
	}
	select {
	case <-s.log.DurableNotify():
	default:
	}
	s.turns.Unlock()
	replies := replier.waitFor(t, 6)[1:]
	want := []struct{ connection, number uint64 }{{2, 1}, {1, 2}, {1, 3}, {3, 1}, {4, 1}}
	for i, reply := range replies {
		if reply.Connection != want[i].connection || reply.Number != want[i].number ||
			reply.Status != model.StatusOK {
			t.Fatalf("reply %d: %+v, want connection %d number %d ok", i, reply,
				want[i].connection, want[i].number)
		}
	}
	if entries := s.Stats().Entries; entries != 4 {
		t.Fatalf("%d entries, want 4 (account 60's, then three turns)", entries)
	}
	if deferred, written := len(log.deferred), log.written; deferred != 4 || written != 3 {
		t.Fatalf("%d entries deferred and %d WriteDeferred calls, want 4 and 3: the entry "+
			"after the order stop's, with input left in the ring, went to Append, which "+
			"has the writer write the deferred one alone", deferred, written)
	}
}
