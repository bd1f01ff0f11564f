package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// TestSagaTimeoutCountsFromWhenTheRouterServes: a saga's Credit turns into an abort once
// the saga has run SagaTimeout while this router serves: from the later of its step 1 and
// the router's first Tick. A restart or failover builds a new router, so a saga that one
// held longer than SagaTimeout is credited, not refused saga_timed_out (it used to be
// aborted at the first poll after such a restart), and a saga whose credit shard never
// answers still ends, SagaTimeout after the router began to serve; a saga started while
// the router serves times out as before, SagaTimeout after its step 1.
func TestSagaTimeoutCountsFromWhenTheRouterServes(t *testing.T) {
	const second = uint64(1_000_000_000)
	step1 := 1_000 * second
	for _, test := range []struct {
		name    string
		started uint64 // The router's first Tick.
		poll    uint64 // When the outbox lists the running saga.
		abort   bool   // Whether the Credit that poll sends is an abort.
	}{
		{"restarted 12 s after step 1, first poll", step1 + 12*second,
			step1 + 12*second + OutboxIntervalDefault, false},
		{"restarted 12 s after step 1, 10 s later less 1 ns", step1 + 12*second,
			step1 + 22*second - 1, false},
		{"restarted 12 s after step 1, 10 s later", step1 + 12*second, step1 + 22*second, true},
		{"restarted 10 s after step 1, first poll", step1 + 10*second,
			step1 + 10*second + OutboxIntervalDefault, false},
		{"restarted 1 s after step 1, 10 s after step 1", step1 + second, step1 + 10*second,
			false},
		{"restarted 1 s after step 1, 10 s later", step1 + second, step1 + 11*second, true},
		{"serving before step 1, 10 s after it less 1 ns", step1 - second,
			step1 + 10*second - 1, false},
		{"serving before step 1, 10 s after it", step1 - second, step1 + 10*second, true},
		{"started at step 1, 10 s after it", step1, step1 + 10*second, true},
	} {
		shards, transport := &recordingShards{}, &recordingTransport{}
		r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
			Replier: discardReplier{}})
		if err != nil {
			t.Fatal(err)
		}
		// pollAt ticks at now and returns the outbox poll of shard 0 that tick made.
		pollAt := func(now uint64) *backend.Request {
			polled := len(shards.submitted)
			r.Tick(now)
			for j := range shards.submitted[polled:] {
				if sub := &shards.submitted[polled+j]; sub.shard == 0 &&
					sub.request.Operation == model.OperationSagaOutbox {
					return &sub.request
				}
			}
			t.Fatalf("%s: at %d ns: shard 0's outbox not asked", test.name, now)
			return nil
		}
		// The first Tick's poll finds the outbox empty (answered before step 1, or before
		// the log's recovery gave the shard its sagas back).
		empty := make([]byte, model.SagaOutboxSummarySize)
		(&saga.OutboxSummary{Next: 5, Lowest: 5}).Encode(empty)
		r.Deliver(0, []backend.Reply{{Connection: pollAt(test.started).Connection,
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: empty}})
		credit := saga.Credit{Transfer: model.Transfer{ID: model.U128(9), Timestamp: step1},
			Sequence: 5, From: 0, To: 1}
		body := make([]byte, model.SagaOutboxSummarySize+model.SagaCreditSize)
		(&saga.OutboxSummary{Next: 6, Lowest: 5, Running: 1}).Encode(body)
		credit.Encode(body[model.SagaOutboxSummarySize:])
		poll := pollAt(test.poll) // Answered by shard 0's outbox, which lists the saga.
		sent := len(transport.messages)
		r.Deliver(0, []backend.Reply{{Connection: poll.Connection,
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: body}})
		var credits []saga.Credit
		for _, message := range transport.messages[sent:] {
			if message.Kind == saga.MessageCredit {
				credits = append(credits, message.Credit)
			}
		}
		if len(credits) != 1 || credits[0].Sequence != 5 {
			t.Fatalf("%s: credits sent %+v, want saga 5's", test.name, credits)
		}
		if credits[0].Abort != test.abort {
			t.Fatalf("%s: poll at %d ns after step 1 (router from %d ns): abort %v, want %v",
				test.name, int64(test.poll-step1), int64(test.started-step1), credits[0].Abort,
				test.abort)
		}
	}
}
