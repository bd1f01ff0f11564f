package router

import (
	"slices"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// Receive's bodies, when a shard's Credits fill more than one request, are each allocated
// at their own size (never more than the operation's event limit, whatever the count of
// messages) and hold the Credits in order: TestReceiveSizesEachBodyOnce's Credits fit one
// request, so a first body sized for every message passed it.
func TestReceiveSizesSplitBodiesAtTheEventLimit(t *testing.T) {
	r, recorder := newTestRouter(t, 2)
	info, _ := model.OperationSagaCredit.Info()
	var got, want []uint64
	var messages []saga.Message
	for i := range 2*info.EventsMax + 3 {
		sequence := uint64(i + 1)
		messages = append(messages, saga.Message{Kind: saga.MessageCredit, To: 1,
			Credit: saga.Credit{Sequence: sequence, From: 0, To: 1}})
		want = append(want, sequence)
		if i%1000 == 0 {
			// Another shard's Credit and a Decision in between change nothing.
			messages = append(messages, saga.Message{Kind: saga.MessageCredit, To: 0,
				Credit: saga.Credit{Sequence: sequence, From: 1, To: 0}},
				saga.Message{Kind: saga.MessageDecision, To: 1,
					Decision: saga.Decision{Sequence: sequence, From: 0, To: 1}})
		}
	}
	r.Receive(messages)
	var sizes []int
	for _, sub := range recorder.submitted {
		if sub.shard != 1 || sub.request.Operation != model.OperationSagaCredit {
			continue
		}
		body := sub.request.Body
		sizes = append(sizes, len(body)/model.SagaCreditSize)
		if cap(body) != len(body) {
			t.Errorf("a body of %d bytes allocated with capacity %d", len(body), cap(body))
		}
		for offset := 0; offset < len(body); offset += model.SagaCreditSize {
			var credit saga.Credit
			if !credit.Decode(body[offset:]) {
				t.Fatalf("record at %d does not decode", offset)
			}
			got = append(got, credit.Sequence)
		}
	}
	if !slices.Equal(sizes, []int{info.EventsMax, info.EventsMax, 3}) {
		t.Fatalf("Credits per request %v, want [%d %d 3]", sizes, info.EventsMax, info.EventsMax)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the requests hold %d Credits out of order or lost, want %d in order",
			len(got), len(want))
	}
}

// A Credit released by debit shard 1 is remembered as sent by shard 1: the poll of shard 1
// that lists it within SagaResendAfter does not send it again, and its Finished leaves
// nothing remembered. TestOutboxPollResendsOnlyAfterTheInterval releases no Credit and
// polls shard 0 only, so Released noting the Credit under its credit shard
// (r.sent[message.To]: a resend at every poll, and an entry per saga never deleted) passed
// every test.
func TestReleasedCreditRememberedByItsDebitShard(t *testing.T) {
	shards, transport := &recordingShards{}, &recordingTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
		Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	credit := saga.Credit{Transfer: model.Transfer{ID: model.U128(9), Timestamp: 1 << 62},
		Sequence: 5, From: 1, To: 0}
	r.Released(1, []saga.Message{{Kind: saga.MessageCredit, To: 0, Credit: credit}})
	r.Tick(OutboxIntervalDefault) // Within SagaResendAfterDefault of the release at 0.
	var poll *backend.Request
	for i := range shards.submitted {
		if sub := &shards.submitted[i]; sub.request.Operation == model.OperationSagaOutbox &&
			sub.shard == 1 {
			poll = &sub.request
		}
	}
	if poll == nil {
		t.Fatal("no outbox poll of shard 1")
	}
	body := make([]byte, model.SagaOutboxSummarySize+model.SagaCreditSize)
	(&saga.OutboxSummary{Next: 6, Lowest: 5, Running: 1}).Encode(body)
	credit.Encode(body[model.SagaOutboxSummarySize:])
	r.Deliver(1, []backend.Reply{{Connection: poll.Connection,
		Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: body}})
	sent := 0
	for _, message := range transport.messages {
		if message.Kind == saga.MessageCredit {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("the Credit sent %d times, want once (released, not resent by the poll)", sent)
	}
	r.Released(1, []saga.Message{{Kind: saga.MessageFinished, To: 1,
		Finished: saga.Finished{ID: model.U128(9), Sequence: 5}}})
	if remembered := len(r.sent[0]) + len(r.sent[1]); remembered != 0 {
		t.Fatalf("the router still remembers %d Credits after the saga finished", remembered)
	}
}

// Released makes room for exactly the Credits and Decisions it sends on, once: one
// allocation per call, a list not sized for the Finisheds too (nor for only the messages
// it keeps). TestReleasedSendsOnInOneList has as many Decisions as Finisheds and six
// messages whose list the allocator's size classes round to a capacity of six anyway, so
// counting Finisheds instead of Decisions, or counting the messages not sent on, passed it.
func TestReleasedMakesRoomForWhatItSendsOnOnce(t *testing.T) {
	transport := &listTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: &recordingShards{},
		Transport: transport, Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	var started, finished []saga.Message
	for i := range uint64(100) {
		started = append(started, saga.Message{Kind: saga.MessageCredit, To: 1,
			Credit: saga.Credit{Sequence: i + 1, From: 0, To: 1}})
		if i%10 == 0 {
			started = append(started, saga.Message{Kind: saga.MessageDecision, To: 1,
				Decision: saga.Decision{Sequence: i + 1, From: 0, To: 1}})
		}
		for range 3 { // Finisheds (a saga's, and others already final) outnumber the rest.
			finished = append(finished, saga.Message{Kind: saga.MessageFinished, To: 0,
				Finished: saga.Finished{Sequence: i + 1}})
		}
	}
	mixed := append(slices.Clone(started), finished...)
	allocations := testing.AllocsPerRun(5, func() {
		transport.sent = transport.sent[:0]
		r.Released(0, mixed) // The Credits noted, then their sagas finished.
	})
	if allocationsCounted && allocations != 1 {
		t.Errorf("Released allocated %v times per call, want once", allocations)
	}
	list := transport.sent[0]
	if len(list) != len(started) || cap(list) >= 2*len(list) {
		t.Fatalf("sent %d messages in a list of capacity %d, want %d in one of less than %d",
			len(list), cap(list), len(started), 2*len(started))
	}
}
