package shard

import (
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/wal"
)

// recordingConsumer keeps the names of the events it is handed, and each Ready's ops.
type recordingConsumer struct {
	mutex   sync.Mutex
	readies [][2]uint64
	events  []event.Event
	handled uint64
}

func (c *recordingConsumer) Consume(ready *backend.Ready) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	c.readies = append(c.readies, [2]uint64{ready.FirstOp, ready.LastOp})
	c.events = append(c.events, ready.Events.Events...)
	c.handled = ready.LastOp
}

func (c *recordingConsumer) ConsumerStats() backend.ConsumerStats {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return backend.ConsumerStats{Name: "recording", HandledOp: c.handled}
}

func (c *recordingConsumer) snapshot() ([][2]uint64, []event.Event) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return append([][2]uint64(nil), c.readies...), append([]event.Event(nil), c.events...)
}

// TestConsumersSeeOnlyReleasedEntries holds the log's durability: no consumer is handed
// an entry before it is durable; once released, every consumer gets every entry, in log
// order, with its events (two consumers, so one cannot take another's turn); and Released
// and the lag metric follow.
func TestConsumersSeeOnlyReleasedEntries(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	first, second := &recordingConsumer{}, &recordingConsumer{}
	s, replier := startShard(t, Config{Consumers: []backend.Consumer{first, second},
		UndurableEntriesMax: heldEntriesMax}, log)
	operatorGrants(t, s, 7) // Op 1, logged with the first request: account 1 may go negative.
	submit := func(number uint64, operation model.Operation, body []byte) {
		t.Helper()
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: operation, Body: body}); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
	}
	submit(1, model.OperationCreateAccounts, plainAccountsBody(1, 2))
	for deadline := time.Now().Add(waitMax); log.LastOp() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // Give a wrong implementation time to leak.
	if readies, _ := first.snapshot(); len(readies) != 0 || s.Released() != 0 {
		t.Fatalf("handed out before durable: %v (released %d)", readies, s.Released())
	}
	log.Release()
	submit(2, model.OperationCreateTransfers, transferBody(10, 1, 2, 5, 0, 0))
	replier.waitFor(t, 2)
	// A reply leaves before its entry's events are handed to the consumers (release
	// answers, then consumes, then counts the op as released): wait for the count.
	waitUntil(t, "op 3 to be released", func() bool { return s.Released() >= 3 })
	for _, consumer := range []*recordingConsumer{first, second} {
		readies, events := consumer.snapshot()
		if len(readies) != 3 || readies[0] != [2]uint64{1, 1} || readies[1] != [2]uint64{2, 2} ||
			readies[2] != [2]uint64{3, 3} {
			t.Fatalf("readies %v", readies)
		}
		if len(events) != 3 || events[0].Kind != event.KindAccountCreated ||
			events[1].Index != 1 || events[2].Kind != event.KindTransferCreated || events[2].Op != 3 {
			t.Fatalf("events %+v", events)
		}
	}
	if s.Released() != 3 {
		t.Fatalf("released %d", s.Released())
	}
	for _, stats := range s.ConsumerStats() {
		if stats.HandledOp != 3 || stats.LagOps != 0 {
			t.Fatalf("consumer stats %+v", stats)
		}
	}
}

// TestConsumersNeverSeeUnknownOutcomes: the log made entry 1 durable, then failed before
// entry 2 was. Consumers get entry 1 (durable for good, released with its ok reply) and
// never entry 2, which is answered outcome_unknown: it may or may not be in the log at
// the restart, so publishing it could announce a change that never happened. Released
// stays at 1.
func TestConsumersNeverSeeUnknownOutcomes(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	consumer := &recordingConsumer{}
	s, replier := startShard(t, Config{PulseInterval: time.Hour, UndurableEntriesMax: heldEntriesMax,
		Consumers: []backend.Consumer{consumer}}, log)
	failAfterTheFirstOfTwo(t, s, log)
	replies := replier.waitFor(t, 2)
	if replies[1].Status != model.StatusOutcomeUnknown {
		t.Fatalf("replies %+v, want entry 2 outcome_unknown", replies)
	}
	readies, events := consumer.snapshot()
	if len(readies) != 1 || readies[0] != [2]uint64{1, 1} || len(events) != 1 ||
		events[0].Op != 1 {
		t.Fatalf("consumer was handed %v (events %+v); want entry 1 only", readies, events)
	}
	if s.Released() != 1 {
		t.Fatalf("released %d, want 1", s.Released())
	}
}
