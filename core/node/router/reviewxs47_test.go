package router

import (
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
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
