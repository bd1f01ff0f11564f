package router

import (
	"encoding/binary"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// Tests for the survivors of the sample of seed 20261213 (RESULTS.md, second round of
// netio/capture and core/node/router).

type recordingTransport struct{ messages []saga.Message }

func (t *recordingTransport) Send(messages []saga.Message) {
	t.messages = append(t.messages, messages...)
}

// The outbox is polled as soon as OutboxInterval has passed (at exactly the interval);
// a credit listed again before SagaResendAfter is not sent again; once the saga has
// finished the router forgets when it sent the credit (the map would otherwise grow
// with every saga ever run).
func TestOutboxPollResendsOnlyAfterTheInterval(t *testing.T) {
	shards, transport := &recordingShards{}, &recordingTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
		Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	answerPoll := func(now uint64) {
		t.Helper()
		before := len(shards.submitted)
		r.Tick(now)
		var poll *backend.Request
		for i := range shards.submitted[before:] {
			sub := &shards.submitted[before+i]
			if sub.request.Operation == model.OperationSagaOutbox && sub.shard == 0 {
				poll = &sub.request
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
	credits := func() int {
		n := 0
		for _, m := range transport.messages {
			if m.Kind == saga.MessageCredit {
				n++
			}
		}
		return n
	}
	answerPoll(OutboxIntervalDefault) // The first poll, exactly one interval after 0.
	if credits() != 1 {
		t.Fatalf("%d credits sent after the first poll, want 1", credits())
	}
	answerPoll(2 * OutboxIntervalDefault) // Listed again 100 ms later: not resent.
	if credits() != 1 {
		t.Fatalf("%d credits sent after the second poll, want still 1", credits())
	}
	r.Released(0, []saga.Message{{Kind: saga.MessageFinished,
		Finished: saga.Finished{ID: model.U128(9), Sequence: 5}}})
	if remembered := len(r.sent[0]) + len(r.sent[1]); remembered != 0 {
		t.Fatalf("the router still remembers %d credits after the saga finished", remembered)
	}
}

// A Forget goes to its shard as saga_forget; one naming a shard the map lacks is
// dropped.
func TestForgetsGoToTheirShard(t *testing.T) {
	r, recorder := newTestRouter(t, 2)
	r.Receive([]saga.Message{
		{Kind: saga.MessageForget, To: 1, Forget: saga.Forget{From: 0, Below: 3}},
		{Kind: saga.MessageForget, To: 2, Forget: saga.Forget{From: 0, Below: 3}},
	})
	if len(recorder.submitted) != 1 || recorder.submitted[0].shard != 1 ||
		recorder.submitted[0].request.Operation != model.OperationSagaForget {
		t.Fatalf("submitted %+v, want one saga_forget to shard 1", recorder.submitted)
	}
}

// A provisional result answered from a shard's session cache (duplicate), or one asking
// to retry, may belong to a saga that ended long ago: its result is looked up at once.
// A fresh saga_in_flight is not (its finish will come).
func TestProvisionalResultsLookedUpAtOnce(t *testing.T) {
	for _, test := range []struct {
		name      string
		duplicate bool
		status    model.Status
		lookups   int
	}{
		{"fresh, in flight", false, model.StatusSagaInFlight, 0},
		{"duplicate, in flight", true, model.StatusSagaInFlight, 1},
		{"fresh, retry", false, model.StatusSagaInFlightRetry, 1},
	} {
		rig := newSubmitRig(t, shardmap.Hashed(2))
		if status := rig.router.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: 1, Operation: model.OperationCreateTransfers,
			Body: rig.transfers(false, 0, 1)}); status != model.StatusOK {
			t.Fatal(status)
		}
		part := rig.shards.accepted(model.OperationCreateTransfers)[0]
		body := make([]byte, model.EventResultSize)
		binary.LittleEndian.PutUint32(body[8:], uint32(test.status))
		rig.router.Deliver(part.shard, []backend.Reply{{Connection: part.request.Connection,
			Operation: model.OperationCreateTransfers, Status: model.StatusOK,
			Duplicate: test.duplicate, Body: body}})
		if got := len(rig.shards.accepted(model.OperationSagaLookup)); got != test.lookups {
			t.Errorf("%s: %d lookups, want %d", test.name, got, test.lookups)
		}
	}
}

// A shard restarted with a part of a write outstanding: that part's outcome is unknown
// (its log may hold it), so the write is outcome_unknown, never log_unavailable (which
// says "not applied").
func TestShardRestartLeavesTheOutcomeUnknown(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	if status := rig.router.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Number: 1, Operation: model.OperationCreateTransfers,
		Body: rig.transfers(false, 0, 1)}); status != model.StatusOK {
		t.Fatal(status)
	}
	rig.router.ShardRestarted(0)
	rig.router.ShardRestarted(1)
	if len(rig.replier.replies) != 1 ||
		rig.replier.replies[0].Status != model.StatusOutcomeUnknown {
		t.Fatalf("replies %+v, want outcome_unknown", rig.replier.replies)
	}
}
