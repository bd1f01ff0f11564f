package shard

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// inlineLog is a held MemoryLog with the deferredWriter side of wal.Log: an entry given to
// AppendDeferred becomes durable only when the sequencer calls WriteDeferred (as with the
// real log, whose writer nobody woke), and not even then when syncFailure is set (the
// sequencer's own fdatasync failed).
type inlineLog struct {
	*wal.MemoryLog
	syncFailure error
	deferred    []uint64 // Last op of each entry given to AppendDeferred.
	written     int      // WriteDeferred calls that had an entry to write.
	pending     bool
}

func newInlineLog() *inlineLog {
	log := &inlineLog{MemoryLog: wal.NewMemoryLog()}
	log.Hold()
	return log
}

func (l *inlineLog) AppendDeferred(e wal.Entry) error {
	if err := l.MemoryLog.Append(e); err != nil {
		return err
	}
	l.deferred, l.pending = append(l.deferred, e.LastOp()), true
	return nil
}

func (l *inlineLog) WriteDeferred() {
	if !l.pending {
		return
	}
	l.pending = false
	l.written++
	if l.syncFailure != nil {
		l.Fail(l.syncFailure)
		return
	}
	if err := l.ReleaseTo(l.deferred[len(l.deferred)-1]); err != nil {
		panic(err)
	}
}

// TestLoneRequestIsWrittenBySequencer: with nothing else in the ring, the sequencer hands
// the entry to AppendDeferred and writes it itself (WriteDeferred) before it waits for
// durability: the reply arrives, which it would never do if the sequencer went to sleep
// with the entry unwritten (nothing else makes this log durable).
func TestLoneRequestIsWrittenBySequencer(t *testing.T) {
	log := newInlineLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	for i := range 3 {
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: uint64(i + 1), Operation: model.OperationCreateAccounts,
			Body: accountsBody(uint64(i + 1))}); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
		replies := replier.waitFor(t, i+1)
		if status := replies[i].Status; status != model.StatusOK {
			t.Fatalf("reply %d: %s", i, status)
		}
	}
	s.Close()
	if len(log.deferred) != 3 || log.written != 3 {
		t.Fatalf("%d entries deferred, %d written by the sequencer; want 3 and 3",
			len(log.deferred), log.written)
	}
}

// TestLoneRequestWaitsForTheSequencersSync: when the fdatasync the sequencer runs itself
// fails, the entry is not durable and its reply must not say ok: it is outcome_unknown.
func TestLoneRequestWaitsForTheSequencersSync(t *testing.T) {
	log := newInlineLog()
	log.syncFailure = errors.New("fdatasync: input/output error")
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	replies := replier.waitFor(t, 1)
	if replies[0].Status != model.StatusOutcomeUnknown || log.written != 1 {
		t.Fatalf("reply %s after the sequencer's failed sync (%d inline writes), want "+
			"outcome_unknown", replies[0].Status, log.written)
	}
}

// TestSequencerWritesOnRealLog runs the new path against a real log, under the race
// detector in CI: one client at a time (every group written by the sequencer itself:
// nothing ever wakes the log's writer), then four clients at once (the ring is not empty
// at most appends, so the writer takes those; both paths interleave). Every reply is ok.
func TestSequencerWritesOnRealLog(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	const sequential, clients, perClient = 20, 4, 25
	for i := range sequential {
		s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: uint64(i + 1),
			Operation: model.OperationCreateAccounts, Body: accountsBody(uint64(i + 1))})
		replier.waitFor(t, i+1)
	}
	if stats := log.Stats(); stats.InlineGroups != stats.Groups || stats.Groups < sequential {
		t.Fatalf("log stats %+v: one request at a time, the sequencer should write every group", stats)
	}
	var group sync.WaitGroup
	for client := range clients {
		group.Go(func() {
			for i := range perClient {
				id := uint64(1000 + client*perClient + i)
				submitAccountWhileBusy(s, uint64(2+client), uint64(i+1), id)
			}
		})
	}
	group.Wait()
	for i, reply := range replier.waitFor(t, sequential+clients*perClient) {
		if reply.Status != model.StatusOK {
			t.Fatalf("reply %d: %s", i, reply.Status)
		}
	}
}

// submitAccountWhileBusy submits request number of client 7's session (and connection)
// session, creating account id, and resends it while the ring is full, as a client would.
func submitAccountWhileBusy(s *Shard, session, number, id uint64) {
	for s.Submit(&backend.Request{Connection: session, Client: 7, Session: session,
		Number: number, Operation: model.OperationCreateAccounts,
		Body: accountsBody(id)}) == model.StatusBusy {
		time.Sleep(time.Millisecond)
	}
}
