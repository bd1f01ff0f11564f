package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// countingShards accepts every request and keeps only how many bytes it was sent.
type countingShards struct{ bytes int }

func (s *countingShards) Submit(_ uint16, request *backend.Request) model.Status {
	s.bytes += len(request.Body)
	return model.StatusOK
}

func (s *countingShards) SubmitInternal(shard uint16, request *backend.Request) model.Status {
	return s.Submit(shard, request)
}

// BenchmarkReceiveCredits is the router's share of step 2 for one debit shard's entry of
// 1,000 cross-shard transfers on two shards: its 1,000 Credits written into a saga_credit
// request for the credit shard. Per op: one entry; for instruction counts, callgrind
// (bench/PERFORMANCE.md, "Shards").
func BenchmarkReceiveCredits(b *testing.B) {
	shards := &countingShards{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards,
		Transport: discardTransport{}, Replier: discardReplier{}})
	if err != nil {
		b.Fatal(err)
	}
	messages := make([]saga.Message, 1000)
	for i := range messages {
		messages[i] = saga.Message{Kind: saga.MessageCredit, To: 1,
			Credit: saga.Credit{Sequence: uint64(i + 1), From: 0, To: 1,
				Transfer: model.Transfer{ID: model.U128(uint64(i + 1)), Amount: model.U128(1),
					Ledger: 1, Code: 1}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Receive(messages)
	}
	if shards.bytes == 0 {
		b.Fatal("nothing submitted")
	}
}

// countingTransport keeps how many messages it was given, and the capacity of the last
// list.
type countingTransport struct{ messages, capacity int }

func (t *countingTransport) Send(messages []saga.Message) {
	t.messages += len(messages)
	t.capacity = cap(messages)
}

// BenchmarkReleasedCredits is the router's share of step 1 for one debit shard's entry of
// 1,000 cross-shard transfers: its released Credits noted (for the resend) and handed to
// the transport. Per op: one entry.
func BenchmarkReleasedCredits(b *testing.B) {
	transport := &countingTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: &countingShards{},
		Transport: transport, Replier: discardReplier{}})
	if err != nil {
		b.Fatal(err)
	}
	messages := make([]saga.Message, 1000)
	b.ReportAllocs()
	round := uint64(0)
	for b.Loop() {
		for i := range messages {
			messages[i] = saga.Message{Kind: saga.MessageCredit, To: 1,
				Credit: saga.Credit{Sequence: round*1000 + uint64(i+1), From: 0, To: 1}}
		}
		r.Released(0, messages)
		for i := range messages { // Step 3's Finisheds: the sagas leave the resend list.
			messages[i] = saga.Message{Kind: saga.MessageFinished, To: 0,
				Finished: saga.Finished{Sequence: round*1000 + uint64(i+1)}}
		}
		r.Released(0, messages)
		round++
	}
	if transport.messages != int(round)*len(messages) {
		b.Fatalf("%d messages sent on of %d", transport.messages, int(round)*len(messages))
	}
}
