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

// releasedMessages records what OnRelease saw.
type releasedMessages struct {
	mutex    sync.Mutex
	messages []saga.Message
	calls    int
}

func (r *releasedMessages) hook(output *core.Output) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	r.calls++
	r.messages = append(r.messages, output.Messages...)
}

func (r *releasedMessages) snapshot() (int, []saga.Message) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.calls, append([]saga.Message(nil), r.messages...)
}

// waitFor waits (bounded) until OnRelease was called calls times; the Replier hears of
// an entry just before OnRelease does.
func (r *releasedMessages) waitFor(t *testing.T, calls int) []saga.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen, messages := r.snapshot()
		if seen >= calls {
			return messages
		}
		if time.Now().After(deadline) {
			t.Fatalf("OnRelease called %d times in 10 s, want %d", seen, calls)
		}
		time.Sleep(time.Millisecond)
	}
}

func startShardZero(t *testing.T, log wal.Appender, released *releasedMessages) (*Shard,
	*recordingReplier) {
	t.Helper()
	machine := core.New(core.Config{Shard: core.ShardConfig{Map: twoShards, Index: 0}})
	return startShardOf(t, Config{OnRelease: released.hook}, machine, log)
}

// A saga's Credit message leaves through OnRelease only once the entry that started the
// saga is durable, like the client's reply.
func TestOnReleaseWaitsForDurability(t *testing.T) {
	log := wal.NewMemoryLog()
	released := &releasedMessages{}
	s, replier := startShardZero(t, log, released)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	replier.waitFor(t, 1)
	log.Hold()
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(9, 1, 150, 5, 0, 0)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	for log.LastOp() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // Room for a wrong implementation to leak.
	if _, messages := released.snapshot(); len(messages) != 0 {
		t.Fatal("a saga message left before its entry was durable")
	}
	log.Release()
	replier.waitFor(t, 2)
	messages := released.waitFor(t, 2) // The accounts entry and the transfer's.
	if len(messages) != 1 || messages[0].Kind != saga.MessageCredit || messages[0].To != 1 ||
		messages[0].Credit.Transfer.ID != model.U128(9) {
		t.Fatalf("released messages %+v", messages)
	}
}

// Messages of entries abandoned after a log failure never leave.
func TestOnReleaseDropsAbandonedMessages(t *testing.T) {
	log := wal.NewMemoryLog()
	released := &releasedMessages{}
	s, replier := startShardZero(t, log, released)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	log.Hold()
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(9, 1, 150, 5, 0, 0)})
	for log.LastOp() < 2 {
		time.Sleep(time.Millisecond)
	}
	log.Fail(errFailed)
	replies := replier.waitFor(t, 2)
	if replies[1].Status != model.StatusOutcomeUnknown {
		t.Fatalf("status %s after a log failure", replies[1].Status)
	}
	if messages := released.waitFor(t, 2); len(messages) != 0 {
		t.Fatalf("an abandoned entry released %+v", messages)
	}
}

type failedError struct{}

func (failedError) Error() string { return "injected failure" }

var errFailed error = failedError{}

// SubmitInternal takes internal operations only, from client 0, and their replies reach
// the Replier with their bodies.
func TestSubmitInternal(t *testing.T) {
	released := &releasedMessages{}
	s, replier := startShardZero(t, wal.NewMemoryLog(), released)
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
