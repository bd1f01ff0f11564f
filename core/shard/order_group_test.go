package shard

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
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
	queueOrderStop(t, s, replier)
	replies := replier.waitFor(t, 4)[1:]
	if deferred, written := len(log.deferred), log.written; deferred != 3 || written != 2 {
		t.Fatalf("%d entries deferred and %d WriteDeferred calls (the first entry's 1 and 1 "+
			"before); want 3 and 2: the order stop's two entries in one group", deferred,
			written)
	}
	checkOrderStopReplies(t, s, replies)
}

// TestOrderStopEntryWrittenWithTheWindowFull: with an in-flight window of one entry, the
// entry of a turn stopped for order fills it, so the sequencer cannot go round and take
// the rest: it waits, and must write the entry it left unwritten first (run), else nothing
// makes it durable and no reply ever leaves.
func TestOrderStopEntryWrittenWithTheWindowFull(t *testing.T) {
	log := newInlineLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour, InlineTurnsOff: true,
		InFlightEntriesMax: 1}, log)
	queueOrderStop(t, s, replier)
	checkOrderStopReplies(t, s, replier.waitFor(t, 4)[1:])
}

// queueOrderStop creates account 60 on connection 1, then queues, in one take, connection
// 2's create of 61, connection 1's lookup of 62, and connection 1's create of 62, which
// the take leaves for the next turn (the read must not see it).
func queueOrderStop(t *testing.T, s *Shard, replier *recordingReplier) {
	t.Helper()
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
	// Turns held while queuing, so that one take finds all three.
	waitUntilParked(t, s)
	s.turns.Lock()
	submit(backend.Request{Connection: 2, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(61)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(62).Append(nil)})
	submit(backend.Request{Connection: 1, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(62)})
	// The first submit woke the sequencer, which waits for turns; the later ones left a
	// wake-up pending, and account 60's release a durability notice nobody took, either of
	// which would send it round once more after its turn whatever it left: drop them, so
	// that the turn's own work alone decides what happens next.
	waitUntil(t, "the sequencer to wake", func() bool { return !s.idle.Load() })
	select {
	case <-s.wake:
	default:
	}
	select {
	case <-s.log.DurableNotify():
	default:
	}
	s.turns.Unlock()
}

// checkOrderStopReplies checks the replies to queueOrderStop's three requests: in order,
// ok, the lookup not seeing the later create, and three entries in all.
func checkOrderStopReplies(t *testing.T, s *Shard, replies []backend.Reply) {
	t.Helper()
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

// TestOrderStopsOnARealLogStress: connections pipeline a lookup and a create in turn on a
// real log (small pipeline, in-flight window of 2), so that takes stop for order again
// and again while entries are deferred, the window fills and the writer and the
// sequencer both write. Every request is answered once, no reply leaves before its op
// is durable (durabilityReplier), and the reopened log holds every op replied ok.
func TestOrderStopsOnARealLogStress(t *testing.T) {
	dir := t.TempDir()
	options := wal.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), PipelineDepth: 2,
		SegmentBytes: wal.SegmentBytesMin}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	replier := newDurabilityReplier(t, log)
	s, err := New(Config{PulseInterval: time.Hour, InFlightEntriesMax: 2},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(replier))
	const connections, perConnection = 8, 160
	var group sync.WaitGroup
	for c := range connections {
		group.Go(func() {
			connection := uint64(1 + c)
			for i := range perConnection {
				id := uint64(1 + c*perConnection + i/2)
				request := backend.Request{Connection: connection, Client: 7,
					Session: connection, Number: uint64(i + 1),
					Operation: model.OperationLookupAccounts, Body: model.U128(id).Append(nil)}
				if i%2 == 1 {
					request.Operation, request.Body = model.OperationCreateAccounts, accountsBody(id)
				}
				for s.Submit(&request) == model.StatusBusy {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	group.Wait()
	for c := range connections {
		replier.waitAnswered(uint64(1+c), perConnection)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries, %d log groups, %d syncs", s.Stats().Entries, log.Stats().Groups,
		log.Stats().Syncs)
	replier.mutex.Lock()
	okOpLast := replier.okOpLast
	for c := range connections {
		if got := replier.answered[uint64(1+c)]; got != perConnection {
			t.Errorf("connection %d: %d replies for %d requests", 1+c, got, perConnection)
		}
	}
	replier.mutex.Unlock()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	log, err = wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if want := uint64(connections * perConnection / 2); okOpLast < want || log.LastOp() < okOpLast {
		t.Fatalf("reopened log ends at op %d; op %d was replied ok (want at least %d)",
			log.LastOp(), okOpLast, want)
	}
}
