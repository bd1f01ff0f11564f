package netio_test

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestReviewr44FencedNodeOfOneFeedClosesEveryShardsReportSubscribers (review of merge
// 5d73b46, report44): netio takes a backend of several report shards with one
// market-data feed (MarketDataConfig without Shards: "one feed (shard 0), from StartOp,
// Serving and Fenced"), and then reads that feed's words for every shard
// (reportShardServing, reportShardFenced fall back to shard 0's feed): a subscribe to
// shard 1's reports at the fenced node is answered shutting_down. But the close of the
// subscribers already in place runs from each feed's publisher for its own shard only
// (dropIfDeposed: closeFencedReportSubscribers(m.shard)), and there is no feed of
// shard 1: a connection subscribed to shard 1's reports alone is never told, and is sent
// heartbeats only while the new primary numbers its reports — what report44 set out to
// end (PROTOCOL.md section 8: "closes every connection subscribed to its reports (of
// any shard)").
//
// Two connections subscribe at the primary, one to shard 0's reports, one to shard 1's
// (the default shard, field 0). The node is fenced; the shard-0 subscriber is told
// (so a recheck ran with the fence seen); the shard-1 subscriber must be told too,
// within 30 heartbeats (50 ms apart: more than ten rechecks of 100 ms) of that.
func TestReviewr44FencedNodeOfOneFeedClosesEveryShardsReportSubscribers(t *testing.T) {
	var fenced atomic.Bool
	var sharded *twoReportShards
	h := newHarness(t, harnessOptions{
		config: func(config *netio.Config) {
			config.HeartbeatInterval = 50 * time.Millisecond
			config.SilenceTimeout = time.Minute
			config.MarketData = netio.MarketDataConfig{
				Serving: func() bool { return !fenced.Load() },
				Fenced:  fenced.Load}
		},
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			sharded = &twoReportShards{Backend: fake, other: fakeshard.New(fakeshard.Config{})}
			return sharded
		}})
	sharded.other.Start(shardTagging{Replier: h.server, shard: 1})
	t.Cleanup(sharded.other.Close)

	shardZero := dialRaw(t, h.server.Address())
	shardZero.login(clientAll, 1, secretOne, 1)
	shardZero.write(subscribeFrame(1, 0, 1)) // Shard 0 named (field 1).
	if frame := shardZero.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("shard 0 at the primary: %s status %d, want subscribed", frame.Kind,
			frame.Status)
	}
	shardOne := dialRaw(t, h.server.Address())
	shardOne.login(clientAll, 1, secretOne, 2)
	shardOne.write(subscribeFrame(2, 0, 0)) // The default shard, shard 1.
	if frame := shardOne.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("shard 1 at the primary: %s status %d, want subscribed", frame.Kind,
			frame.Status)
	}

	fenced.Store(true) // A standby was promoted: it numbers both shards' reports now.
	// A subscribe of shard 1 at the fenced node is answered shutting_down: netio does
	// take this node's one feed for shard 1's word.
	late := dialRaw(t, h.server.Address())
	late.login(clientAll, 1, secretOne, 3)
	late.write(subscribeFrame(3, 0, 2))
	late.expectError(wire.ErrorShuttingDown)
	shardZero.expectError(wire.ErrorShuttingDown)

	if shutDownWithinHeartbeats(t, shardOne, 2, 30) {
		return
	}
	t.Fatal("the node is fenced (it answers a shard-1 subscribe shutting_down, and has " +
		"closed its shard-0 subscriber), yet the connection subscribed to shard 1's " +
		"reports was sent 30 heartbeats and nothing else: its reports stop without a sign")
}
