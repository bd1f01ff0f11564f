package shard

import (
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/invariants"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
	"sequent/wal"
)

// twoShards places ids below 100 on shard 0 and the rest on shard 1.
var twoShards = shardmap.ByRange(model.U128(0), model.U128(100))

// releasedMessages records the saga messages a shard released (Outputs.Released) and,
// through its recordingReplier, the replies.
type releasedMessages struct {
	*recordingReplier
	mutex    sync.Mutex
	messages []saga.Message
}

func newReleasedMessages() *releasedMessages {
	return &releasedMessages{recordingReplier: newRecordingReplier()}
}

func (r *releasedMessages) Released(messages []saga.Message) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	r.messages = append(r.messages, messages...)
}

func (r *releasedMessages) snapshot() []saga.Message {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return append([]saga.Message(nil), r.messages...)
}

// afterOutputs waits until everything the shard released before now has reached r: a
// read's reply comes through the same sequencer goroutine after every earlier entry's
// replies and messages.
func (r *releasedMessages) afterOutputs(t *testing.T, s *Shard) {
	t.Helper()
	before := r.count()
	body := make([]byte, model.IDSize)
	model.U128(1).PutLE(body)
	if status := s.Submit(&backend.Request{Connection: 99, Client: 7,
		Operation: model.OperationLookupAccounts, Body: body}); status != model.StatusOK {
		t.Fatalf("barrier read: %s", status)
	}
	r.waitFor(t, before+1)
}

func startShardZero(t *testing.T, log Log) (*Shard, *releasedMessages) {
	t.Helper()
	machine := core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: 0},
		RulesVersion: core.RulesVersionCurrent})
	s, err := New(Config{}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	outputs := newReleasedMessages()
	s.Start(outputs)
	t.Cleanup(func() { s.Close() })
	return s, outputs
}

// A saga's Credit message leaves through Outputs.Released only once the entry that
// started the saga is durable, like the client's reply, and after that reply.
func TestReleasedWaitsForDurability(t *testing.T) {
	log := wal.NewMemoryLog()
	s, released := startShardZero(t, log)
	operatorGrants(t, s, 7) // Op 1: account 1 may go negative.
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	released.waitFor(t, 1)
	log.Hold()
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(9, 1, 150, 5, 0, 0)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	for log.LastOp() < 3 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // Room for a wrong implementation to leak.
	if messages := released.snapshot(); len(messages) != 0 {
		t.Fatal("a saga message left before its entry was durable")
	}
	log.Release()
	released.waitFor(t, 2)
	released.afterOutputs(t, s)
	messages := released.snapshot()
	if len(messages) != 1 || messages[0].Kind != saga.MessageCredit || messages[0].To != 1 ||
		messages[0].Credit.Transfer.ID != model.U128(9) {
		t.Fatalf("released messages %+v", messages)
	}
}

// Messages of entries abandoned after a log failure never leave.
func TestReleasedDropsAbandonedMessages(t *testing.T) {
	log := wal.NewMemoryLog()
	s, released := startShardZero(t, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	released.waitFor(t, 1)
	log.Hold()
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(9, 1, 150, 5, 0, 0)})
	for log.LastOp() < 2 {
		time.Sleep(time.Millisecond)
	}
	log.Fail(errFailed)
	replies := released.waitFor(t, 2)
	if replies[1].Status != model.StatusOutcomeUnknown {
		t.Fatalf("status %s after a log failure", replies[1].Status)
	}
	s.Close() // Its sequencer has stopped: whatever it would release has been.
	if messages := released.snapshot(); len(messages) != 0 {
		t.Fatalf("an abandoned entry released %+v", messages)
	}
}

type failedError struct{}

func (failedError) Error() string { return "injected failure" }

var errFailed error = failedError{}

// SubmitInternal takes internal operations only, from client 0, and their replies reach
// the Replier with their bodies.
func TestSubmitInternal(t *testing.T) {
	s, replier := startShardZero(t, wal.NewMemoryLog())
	query := make([]byte, model.SagaOutboxQuerySize)
	saga.EncodeOutboxQuery(query, 0)
	refusals := []struct {
		name    string
		request backend.Request
		want    model.Status
	}{
		{"client operation", backend.Request{Operation: model.OperationCreateAccounts,
			Body: accountsBody(1)}, model.StatusUnknownOperation},
		{"a client id", backend.Request{Client: 7, Operation: model.OperationSagaOutbox, Body: query},
			model.StatusInvalidBody},
		{"a request number", backend.Request{Number: 1, Operation: model.OperationSagaOutbox, Body: query},
			model.StatusInvalidBody},
		{"bad shape", backend.Request{Operation: model.OperationSagaOutbox, Body: query[:8]},
			model.StatusInvalidBody},
	}
	for _, test := range refusals {
		if status := s.SubmitInternal(&test.request); status != test.want {
			t.Errorf("%s: %s, want %s", test.name, status, test.want)
		}
	}
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationSagaOutbox, Body: query}); status != model.StatusUnknownOperation {
		t.Fatalf("a client's internal operation: %s", status)
	}
	if status := s.SubmitInternal(&backend.Request{Connection: 5, Operation: model.OperationSagaOutbox,
		Body: query}); status != model.StatusOK {
		t.Fatalf("saga_outbox: %s", status)
	}
	replies := replier.waitFor(t, 1)
	var summary saga.OutboxSummary
	summary.Decode(replier.bodies[0])
	if replies[0].Connection != 5 || replies[0].Status != model.StatusOK ||
		summary != (saga.OutboxSummary{Next: 1, Lowest: 1}) {
		t.Fatalf("reply %+v, summary %+v", replies[0], summary)
	}
}

// The answer check stops a second answer at once (invariants and race builds).
func TestAnswerCheckRefusesASecondAnswer(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs the invariants or race build tag")
	}
	var check answerCheck
	check.taken([]requestMeta{{connection: 3, ticket: 11}})
	check.answer(11)
	defer func() {
		if recover() == nil {
			t.Fatal("a second answer passed")
		}
	}()
	check.answer(11)
}
