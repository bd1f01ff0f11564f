package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// TestSagaTimeoutCountsFromTheFirstAnsweredPoll: a sync primary restarted before its
// standby releases nothing, its outbox polls included, until the standby has caught up.
// The saga timeout of a saga its restart interrupted runs from the first answer to its
// debit shard's outbox poll, not from the router's first Tick: the router ticks from 1 s
// after step 1, the standby is back 15 s after step 1 (the first poll is answered then,
// listing the saga), and the Credit sent then is not an abort, nor 10 s less 1 ns later;
// 11 s later it is.
// saga48's rule (from the first Tick) sent an abort at once: the transfer answered
// saga_timed_out (e2e: TestReviewsg48StandbyBackAfterTheSagaTimeout).
func TestSagaTimeoutCountsFromTheFirstAnsweredPoll(t *testing.T) {
	const second = uint64(1_000_000_000)
	step1 := 1_000 * second
	shards, transport := &recordingShards{}, &recordingTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
		Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	// outboxPoll returns the connection of the last outbox poll of shard 0.
	outboxPoll := func() uint64 {
		for i := len(shards.submitted) - 1; i >= 0; i-- {
			if sub := &shards.submitted[i]; sub.shard == 0 &&
				sub.request.Operation == model.OperationSagaOutbox {
				return sub.request.Connection
			}
		}
		t.Fatal("shard 0's outbox not asked")
		return 0
	}
	credit := saga.Credit{Transfer: model.Transfer{ID: model.U128(9), Timestamp: step1},
		Sequence: 5, From: 0, To: 1}
	body := make([]byte, model.SagaOutboxSummarySize+model.SagaCreditSize)
	(&saga.OutboxSummary{Next: 6, Lowest: 5, Running: 1}).Encode(body)
	credit.Encode(body[model.SagaOutboxSummarySize:])
	// answer answers shard 0's last poll with the saga listed and returns the Credit sent.
	answer := func(when string) saga.Credit {
		t.Helper()
		sent := len(transport.messages)
		r.Deliver(0, []backend.Reply{{Connection: outboxPoll(),
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: body}})
		for _, message := range transport.messages[sent:] {
			if message.Kind == saga.MessageCredit && message.Credit.Sequence == 5 {
				return message.Credit
			}
		}
		t.Fatalf("%s: saga 5's Credit not sent", when)
		return saga.Credit{}
	}
	// Ticks every 100 ms from 1 s to 15 s after step 1: the first poll waits (in flight).
	for now := step1 + second; now <= step1+15*second; now += OutboxIntervalDefault {
		r.Tick(now)
	}
	if c := answer("first answer, 15 s after step 1"); c.Abort {
		t.Fatal("the first answered poll, 15 s after step 1 and 14 s after the first Tick, " +
			"sent an abort: the wait for the standby counted")
	}
	r.Tick(step1 + 25*second - 1)
	if c := answer("10 s after the first answer less 1 ns"); c.Abort {
		t.Fatal("abort sent before 10 s from the first answered poll")
	}
	r.Tick(step1 + 26*second) // A poll due, and the Credit due again.
	if c := answer("11 s after the first answer"); !c.Abort {
		t.Fatal("no abort 11 s after the first answered poll")
	}
}
