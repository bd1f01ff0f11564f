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

// everyDurableHookLog is a MemoryLog that runs hook on every call of Durable (the
// sequencer's turn calls it between its check of the grant table and its take).
type everyDurableHookLog struct {
	*wal.MemoryLog
	hook func()
}

func (l *everyDurableHookLog) Durable() uint64 {
	l.hook()
	return l.MemoryLog.Durable()
}

// reloadsInARowMax bounds the SetGrants calls of TestReloadsInARowDoNotHoldTheRingBack:
// far more than the few turns the requests need.
const reloadsInARowMax = 1000

// TestReloadsInARowDoNotHoldTheRingBack: a SetGrants between every turn's check of the
// grant table and its take (keys reloads in a row) delays only what was queued after
// it, and only until the next turn: a request queued before the first reload, and one
// submitted right after it, are both answered long before the reloads stop. A take that
// took nothing whenever a barrier came since its count held both back for as long as
// the reloads went on.
func TestReloadsInARowDoNotHoldTheRingBack(t *testing.T) {
	log := &everyDurableHookLog{MemoryLog: wal.NewMemoryLog()}
	s, err := New(Config{}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	table := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
	replier := newRecordingReplier()
	var reloads atomic.Int64
	hookErrors := make(chan error, reloadsInARowMax)
	log.hook = func() { // On the sequencer goroutine.
		if replier.count() >= 2 || reloads.Load() >= reloadsInARowMax {
			return
		}
		if err := s.SetGrants(table); err != nil {
			hookErrors <- err
		}
		if reloads.Add(1) == 1 {
			if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2,
				Number: 1, Operation: model.OperationCreateAccounts,
				Body: accountsBody(2)}); status != model.StatusOK {
				hookErrors <- fmt.Errorf("submit: %s", status)
			}
		}
	}
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	replier.waitFor(t, 2)
	answeredAfter := reloads.Load()
	select { // Not closed: the hook may still be running.
	case err := <-hookErrors:
		t.Fatalf("hook: %v", err)
	default:
	}
	if answeredAfter >= reloadsInARowMax {
		t.Fatalf("both requests answered only once the %d reloads in a row stopped",
			answeredAfter)
	}
}
