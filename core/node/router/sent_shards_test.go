package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// When a Credit was last sent is kept per debit shard: two debit shards number their
// sagas alike, so shard 1's saga 5 sent or finished says nothing of shard 0's saga 5.
// Shard 0's poll listing its saga 5 sends it though shard 1's saga 5 was just sent, and
// shard 1's saga 5 finishing does not make the router forget when it sent shard 0's (the
// next poll, before SagaResendAfter, does not send it again). Each of Released and
// pollAnswered reading or writing another shard's times fails here.
func TestResendTimesKeptPerDebitShard(t *testing.T) {
	shards, transport := &recordingShards{}, &recordingTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
		Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	creditsOfShard0 := func() int {
		count := 0
		for _, message := range transport.messages {
			if message.Kind == saga.MessageCredit && message.Credit.From == 0 {
				count++
			}
		}
		return count
	}
	answerPollOfShard0 := func(now uint64) {
		t.Helper()
		before := len(shards.submitted)
		r.Tick(now)
		var poll *backend.Request
		for i := range shards.submitted[before:] {
			submitted := &shards.submitted[before+i]
			if submitted.request.Operation == model.OperationSagaOutbox && submitted.shard == 0 {
				poll = &submitted.request
			}
		}
		if poll == nil {
			t.Fatalf("no outbox poll of shard 0 at %d", now)
		}
		body := make([]byte, model.SagaOutboxSummarySize+model.SagaCreditSize)
		(&saga.OutboxSummary{Next: 6, Lowest: 5, Running: 1}).Encode(body)
		(&saga.Credit{Transfer: model.Transfer{ID: model.U128(9), Timestamp: 1 << 62},
			Sequence: 5, From: 0, To: 1}).Encode(body[model.SagaOutboxSummarySize:])
		r.Deliver(0, []backend.Reply{{Connection: poll.Connection,
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: body}})
	}
	r.Released(1, []saga.Message{{Kind: saga.MessageCredit, To: 0,
		Credit: saga.Credit{Transfer: model.Transfer{ID: model.U128(10)}, Sequence: 5,
			From: 1, To: 0}}})
	answerPollOfShard0(OutboxIntervalDefault)
	if sent := creditsOfShard0(); sent != 1 {
		t.Fatalf("%d Credits of shard 0 sent after its first poll, want 1 (shard 1's saga 5 "+
			"sent counted as shard 0's)", sent)
	}
	r.Released(1, []saga.Message{{Kind: saga.MessageFinished,
		Finished: saga.Finished{ID: model.U128(10), Sequence: 5}}})
	answerPollOfShard0(2 * OutboxIntervalDefault) // Before SagaResendAfter.
	if sent := creditsOfShard0(); sent != 1 {
		t.Fatalf("%d Credits of shard 0 sent after its second poll, want still 1 (shard 1's "+
			"saga 5 finishing forgot shard 0's)", sent)
	}
	if len(r.sent[0]) != 1 || len(r.sent[1]) != 0 {
		t.Fatalf("sent times kept: %d for shard 0, %d for shard 1; want 1 and 0",
			len(r.sent[0]), len(r.sent[1]))
	}
}
