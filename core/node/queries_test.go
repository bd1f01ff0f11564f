package node

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/shard"
	"sequent/wal"
)

// TestIdleNodeCountsNoQueries: an idle 'sequent serve' showed its shards' queries counter
// (/v1/status, sequent_shard_queries_total) climbing about ten a second, because the
// router's saga outbox polls, its own reads, were counted as clients' reads. The test
// runs a node of two shards whose router clock moves one OutboxInterval per tick, so that
// each tick finds a poll due; it waits (bounded) until the router has ticked
// ticksWatched times, and expects both shards' counters at 0. A client's lookup split
// across both shards then counts once on each: the router's parts of a client's read
// carry the client, and are clients' reads.
func TestIdleNodeCountsNoQueries(t *testing.T) {
	const (
		outboxIntervalNs = uint64(10 * time.Millisecond)
		ticksWatched     = 50
	)
	parts := make([]Part, 2)
	for i := range parts {
		parts[i] = Part{Machine: core.New(core.Config{Shard: core.ShardConfig{Map: twoShards,
			Index: uint16(i)}}), Log: wal.NewMemoryLog()}
	}
	local, err := NewLocal(twoShards, shard.Config{CloseTimeout: 300 * time.Millisecond}, parts)
	if err != nil {
		t.Fatal(err)
	}
	var ticks atomic.Uint64
	node, err := New(Config{Map: twoShards, OutboxInterval: outboxIntervalNs,
		TickInterval: time.Millisecond,
		Clock:        func() uint64 { return ticks.Add(1) * outboxIntervalNs }}, local)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, node: node, replies: newClientReplies()}
	node.Start(tn.replies)
	defer node.Close()

	deadline := time.Now().Add(20 * time.Second) // A hang guard, not a timing assertion.
	for ticks.Load() < ticksWatched {
		if time.Now().After(deadline) {
			t.Fatalf("the router ticked %d times in 20 s, want %d", ticks.Load(), ticksWatched)
		}
		time.Sleep(time.Millisecond)
	}
	for index, s := range node.Shards() {
		if queries := s.Stats().Queries; queries != 0 {
			t.Fatalf("shard %d of an idle node counts %d queries after %d router ticks, "+
				"want 0", index, queries, ticksWatched)
		}
	}

	if accounts := tn.lookup(1, 1, 100); len(accounts) != 0 {
		t.Fatalf("lookup of accounts never created found %d", len(accounts))
	}
	for index, s := range node.Shards() {
		if queries := s.Stats().Queries; queries != 1 {
			t.Fatalf("shard %d counts %d queries after a client's lookup split across both "+
				"shards, want 1", index, queries)
		}
	}
}
