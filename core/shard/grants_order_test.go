package shard

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/wal"
)

// firstDurableHookLog is a MemoryLog that runs hook on the first call of Durable. The
// sequencer's turn calls Durable (holdForGroupCommit) after its check of the grant table
// and before it takes from the ring, so hook runs exactly between the two.
type firstDurableHookLog struct {
	*wal.MemoryLog
	hook func()
	once sync.Once
}

func (l *firstDurableHookLog) Durable() uint64 {
	l.once.Do(l.hook)
	return l.MemoryLog.Durable()
}

// TestGrantsGoBeforeRequestsSubmittedAfterThem: a request submitted after SetGrants
// returned is decided by that table even when the sequencer's turn had already checked
// for a table when SetGrants was called (SetGrants: "writes it into the log before the
// next requests it sequences"; a keys reload relies on it). The hook forces that
// interleaving, which a test starting a shard and then calling SetGrants and Submit
// met by chance under load: the first turn, started by Start, checked for a table
// before SetGrants and took the request after Submit, so create_accounts of accounts
// that may go negative was logged as op 1, refused (no operator grant yet), and the
// table followed as op 2 (TestConsumersSeeOnlyReleasedEntries then saw "events []").
func TestGrantsGoBeforeRequestsSubmittedAfterThem(t *testing.T) {
	log := &firstDurableHookLog{MemoryLog: wal.NewMemoryLog()}
	consumer := &recordingConsumer{}
	s, err := New(Config{Consumers: []backend.Consumer{consumer}}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan error, 1)
	log.hook = func() { // On the sequencer goroutine, inside its first turn.
		table := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
		if err := s.SetGrants(table); err != nil {
			statuses <- err
			return
		}
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)}); status != model.StatusOK {
			statuses <- fmt.Errorf("submit: %s", status)
			return
		}
		statuses <- nil
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	if err := <-statuses; err != nil {
		t.Fatalf("hook: %v", err)
	}
	replier.waitFor(t, 1)
	waitUntil(t, "op 2 to be released", func() bool { return s.Released() >= 2 })
	readies, events := consumer.snapshot()
	if len(readies) != 2 || readies[0] != [2]uint64{1, 1} || readies[1] != [2]uint64{2, 2} {
		t.Fatalf("readies %v, want the grant table (op 1), then create_accounts (op 2)", readies)
	}
	if len(events) != 2 || events[0].Kind != event.KindAccountCreated || events[0].Op != 2 ||
		events[1].Kind != event.KindAccountCreated || events[1].Op != 2 {
		t.Fatalf("events %+v, want both accounts created at op 2 (decided by the table)", events)
	}
}

// armedDurableHookLog is a MemoryLog that runs hook on the first call of Durable once
// armed: armed after the sequencer parks, that call is the inline turn's (its
// holdForGroupCommit, between its check of the grant table and its take).
type armedDurableHookLog struct {
	*wal.MemoryLog
	hook  func()
	armed atomic.Bool
}

func (l *armedDurableHookLog) Durable() uint64 {
	if l.armed.CompareAndSwap(true, false) {
		l.hook()
	}
	return l.MemoryLog.Durable()
}

// TestGrantsGoBeforeRequestsSubmittedAfterThemInline is
// TestGrantsGoBeforeRequestsSubmittedAfterThem on the other path that takes from the
// ring, an event loop's turn (TurnInline): SetGrants and a Submit between that turn's
// check of the grant table and its take leave the request to the sequencer's next turn,
// which logs the table first, so it is decided by the table. The loop's own request,
// queued before SetGrants (a read, so that its op does not matter), is the inline turn's.
func TestGrantsGoBeforeRequestsSubmittedAfterThemInline(t *testing.T) {
	log := &armedDurableHookLog{MemoryLog: wal.NewMemoryLog()}
	consumer := &recordingConsumer{}
	// No pulses: nothing but the test wakes the parked sequencer.
	s, err := New(Config{Consumers: []backend.Consumer{consumer}, PulseInterval: time.Hour},
		core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	var inInlineTurn, hookRanInline atomic.Bool
	hookErrors := make(chan error, 1)
	log.hook = func() {
		hookRanInline.Store(inInlineTurn.Load())
		table := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
		if err := s.SetGrants(table); err != nil {
			hookErrors <- err
			return
		}
		if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2, Number: 1,
			Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)}); status != model.StatusOK {
			hookErrors <- fmt.Errorf("submit: %s", status)
			return
		}
		hookErrors <- nil
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	waitUntilParked(t, s)
	log.armed.Store(true)
	if status := s.SubmitDeferred(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Operation: model.OperationLookupAccounts,
		Body:      model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("submit deferred: %s", status)
	}
	inInlineTurn.Store(true)
	s.TurnInline()
	inInlineTurn.Store(false)
	if err := <-hookErrors; err != nil {
		t.Fatalf("hook: %v", err)
	}
	if !hookRanInline.Load() {
		t.Fatal("the hook ran in the sequencer's turn, not in the inline turn")
	}
	var created backend.Reply
	for _, reply := range replier.waitFor(t, 2) {
		if reply.Connection == 2 {
			created = reply
		}
	}
	if created.Op < 2 {
		t.Fatalf("create_accounts %+v at op %d, want it after the grant table (op 1)",
			created, created.Op)
	}
	waitUntil(t, "the consumer to handle create_accounts",
		func() bool { return consumer.ConsumerStats().HandledOp >= created.Op })
	readies, events := consumer.snapshot()
	if len(readies) == 0 || readies[0] != [2]uint64{1, 1} {
		t.Fatalf("readies %v, want the grant table first (op 1)", readies)
	}
	if len(events) != 2 || events[0].Kind != event.KindAccountCreated ||
		events[0].Op != created.Op || events[1].Kind != event.KindAccountCreated ||
		events[1].Op != created.Op {
		t.Fatalf("events %+v, want accounts 1 and 2 created at op %d (decided by the table)",
			events, created.Op)
	}
}
