package core

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// reviewsp46SagaPinnedSHA256 is the SHA-256 of reviewsp46SagaTrace's output as main at
// 89bb638f (before session 46's xshard46 decoded saga bodies per record type, updated
// the running list once per saga_finish batch, reserved message slots once per step,
// kept each Credit's decision pointer across a saga_credit batch and copied a Finished's
// result without its Risk) produced it. xshard46 changed the saga steps for speed only:
// every shard's replies, saga messages and events, entry after entry, its digest, and
// what the router reads of the running list (saga_outbox from the start and from each
// sequence the previous page ended at: its summary, lowest running saga and Credits)
// after every entry must be as before, over random traffic (sagaRandomTraffic: batches
// of credits and decisions mixing many sagas, copies, aborts, another transfer's
// decision, malformed records, forgets; TestReviewsp46HeavySagaTrafficPinned has the
// volume that grows windows by pages within a batch).
// Regenerate only for an intended change.
const reviewsp46SagaPinnedSHA256 = "a1caeff1989a13dce7528af78960d801d721b9a361621b999f1c9236c5e0fa7b"

func TestReviewsp46SagaTrafficPinned(t *testing.T) {
	sum := sha256.New()
	for seed := uint64(1); seed <= 6; seed++ {
		reviewsp46SagaTrace(t, seed, sum)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != reviewsp46SagaPinnedSHA256 {
		t.Fatalf("saga traffic hash %s, pinned %s: the saga steps' output changed", got,
			reviewsp46SagaPinnedSHA256)
	}
}

// reviewsp46SagaTrace replays each shard's log of a seed's traffic on a new machine and
// writes every entry's output, and the outbox read after it, to w.
func reviewsp46SagaTrace(t *testing.T, seed uint64, w hash.Hash) {
	p := sagaRandomTrafficAt(t, seed, rulesVersionPayerBound) // 9: released, frozen.
	for shard, h := range p.shards {
		replay := New(sagaTrafficConfig(seed, shard))
		out := &Output{} // Reused, as a shard runtime does.
		for j := range h.entries {
			out.Reset()
			if err := replay.Apply(&h.entries[j], out); err != nil {
				t.Fatalf("seed %d: shard %d entry %d: %v", seed, shard, j, err)
			}
			fmt.Fprintf(w, "entry %d %d %d\n", seed, shard, j)
			traceOutput(w, out)
			reviewsp46Outbox(replay, w)
		}
		fmt.Fprintf(w, "digest %x %x\n", replay.Digest(), h.machine.Digest())
		reviewsp46Outbox(h.machine, w) // The shard that ran it, restores and all.
	}
}

// reviewsp46Outbox writes every page of the machine's saga_outbox.
func reviewsp46Outbox(m *Machine, w hash.Hash) {
	after := uint64(0)
	for page := 0; ; page++ {
		body := make([]byte, model.SagaOutboxQuerySize)
		saga.EncodeOutboxQuery(body, after)
		out := &Output{}
		m.Query(&Request{Operation: model.OperationSagaOutbox, Body: body}, out)
		reply := out.Body(&out.Replies[0])
		fmt.Fprintf(w, "outbox %d %d %x\n", page, out.Replies[0].Status, reply)
		records := reply[min(len(reply), model.SagaOutboxSummarySize):]
		if len(records) < model.SagaCreditSize {
			return
		}
		last := records[len(records)-model.SagaCreditSize:]
		var c saga.Credit
		if !c.Decode(last) {
			return
		}
		if c.Sequence <= after {
			panic(fmt.Sprintf("outbox page after %d ends at %d", after, c.Sequence))
		}
		after = c.Sequence
	}
}
