package shard

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
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

// goroutineID is the calling goroutine's number, from its stack header.
func goroutineID() uint64 {
	var buffer [64]byte
	header := strings.Fields(string(buffer[:runtime.Stack(buffer[:], false)]))
	id, err := strconv.ParseUint(header[1], 10, 64)
	if err != nil {
		panic("goroutine header: " + strings.Join(header, " "))
	}
	return id
}

// goroutineReplier records each reply with the goroutine that delivered it.
type goroutineReplier struct {
	mutex      sync.Mutex
	replies    []backend.Reply
	goroutines []uint64
	arrived    chan struct{}
}

func (r *goroutineReplier) Deliver(replies []backend.Reply) {
	id := goroutineID()
	r.mutex.Lock()
	for _, reply := range replies {
		reply.Body = nil
		r.replies, r.goroutines = append(r.replies, reply), append(r.goroutines, id)
	}
	r.mutex.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

func (r *goroutineReplier) DeliverReports([]backend.Report) {}

// TestInlineTurnStoppedForOrderWritesAtOnce: a loop's turn (TurnInline) whose take stops
// for order writes its entry and releases its replies itself, as before session 47
// (iterate: only the sequencer leaves such an entry for the next turn's): the loop runs
// those replies' writes itself, and the sequencer, which it wakes for the rest, finds
// nothing of that turn left. Dropping iterate's "!sequencer ||" passed every other test;
// then the replies left on the sequencer's goroutine.
func TestInlineTurnStoppedForOrderWritesAtOnce(t *testing.T) {
	log := newInlineLog()
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	replier := &goroutineReplier{arrived: make(chan struct{}, 1)}
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	waitUntilParked(t, s)
	submit := func(request backend.Request) {
		t.Helper()
		request.Client = 7
		if status := s.SubmitDeferred(&request); status != model.StatusOK {
			t.Fatalf("submit connection %d number %d: %s", request.Connection,
				request.Number, status)
		}
	}
	submit(backend.Request{Connection: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(61)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(62).Append(nil)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(62)})
	loop := goroutineID()
	s.TurnInline()
	if turns := s.Stats().InlineTurns; turns != 1 {
		t.Fatalf("%d inline turns, want 1", turns)
	}
	deadline := time.After(waitMax)
	for {
		replier.mutex.Lock()
		count := len(replier.replies)
		replier.mutex.Unlock()
		if count >= 3 {
			break
		}
		select {
		case <-replier.arrived:
		case <-deadline:
			t.Fatalf("%d replies after %v, want 3", count, waitMax)
		}
	}
	replier.mutex.Lock()
	defer replier.mutex.Unlock()
	want := []struct{ connection, number uint64 }{{2, 1}, {1, 1}, {1, 2}}
	for i, reply := range replier.replies {
		if reply.Connection != want[i].connection || reply.Number != want[i].number ||
			reply.Status != model.StatusOK {
			t.Fatalf("reply %d: %+v, want connection %d number %d ok", i, reply,
				want[i].connection, want[i].number)
		}
	}
	for i := range 2 {
		if replier.goroutines[i] != loop {
			t.Fatalf("reply %d of the loop's turn left on goroutine %d, not the loop's (%d): "+
				"the turn stopped for order left its entry unwritten", i,
				replier.goroutines[i], loop)
		}
	}
}
