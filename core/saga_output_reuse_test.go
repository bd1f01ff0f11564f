package core

import (
	"bytes"
	"testing"
)

// A shard runtime reuses its Outputs for entry after entry, and the saga book appends an
// entry's messages into the slots that the capacity keeps from earlier ones without
// zeroing them (saga's reserveMessages clears only the payload of a slot's earlier kind).
// So a long-running primary appends into slots holding Credits, Decisions and Finisheds
// of its history, while a replica restarted from the same log appends into new memory:
// both must produce the same messages, every field of every payload (the ones of other
// kinds included, which a comparison of whole Messages sees), and the same replies.
// Review of xshard42 (session 42): random saga traffic (sagaRandomTraffic: credits,
// decisions and finishes in one entry, copies, aborts, another transfer's decision,
// refusals, forgets, restores) replayed per shard into a new Output per entry and into
// one Output reused, after Reset, for every entry of both shards in turn (shard 1's
// replay starts on the slots shard 0's left).
func TestSagaMessagesIntoReusedOutputMatchNewOutputs(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		p := sagaRandomTraffic(t, seed)
		reused := &Output{}
		checked := 0
		for shard, h := range p.shards {
			fresh, warm := New(sagaTrafficConfig(seed, shard)), New(sagaTrafficConfig(seed, shard))
			for j := range h.entries {
				want := &Output{}
				if err := fresh.Apply(&h.entries[j], want); err != nil {
					t.Fatalf("seed %d: shard %d entry %d: %v", seed, shard, j, err)
				}
				reused.Reset()
				if err := warm.Apply(&h.entries[j], reused); err != nil {
					t.Fatalf("seed %d: shard %d entry %d (reused output): %v", seed, shard, j, err)
				}
				if len(reused.Messages) != len(want.Messages) {
					t.Fatalf("seed %d: shard %d entry %d: %d messages into a reused output, %d "+
						"into a new one", seed, shard, j, len(reused.Messages), len(want.Messages))
				}
				for k := range want.Messages {
					if reused.Messages[k] != want.Messages[k] {
						t.Fatalf("seed %d: shard %d entry %d: message %d into a reused output\n"+
							"%+v\nwant\n%+v", seed, shard, j, k, reused.Messages[k], want.Messages[k])
					}
				}
				checked += len(want.Messages)
				if len(reused.Replies) != len(want.Replies) {
					t.Fatalf("seed %d: shard %d entry %d: %d replies, want %d", seed, shard, j,
						len(reused.Replies), len(want.Replies))
				}
				for k := range want.Replies {
					got, expected := &reused.Replies[k], &want.Replies[k]
					if got.Status != expected.Status ||
						!bytes.Equal(reused.Body(got), want.Body(expected)) {
						t.Fatalf("seed %d: shard %d entry %d: reply %d differs in a reused output",
							seed, shard, j, k)
					}
				}
			}
			if warm.Digest() != fresh.Digest() {
				t.Fatalf("seed %d: shard %d: another state with a reused output", seed, shard)
			}
		}
		if checked == 0 {
			t.Fatalf("seed %d: the traffic made no saga message", seed)
		}
	}
}
