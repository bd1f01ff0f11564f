package netio

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
)

// TestReview50ConsumerStatsCountsTheBatchBeingPublished (review of 0d0f4364, "could
// HandledOp run ahead of updates not yet fanned out?"): the feed's progress as the shard
// reports it (ConsumerStats: /v1/status streams, sequent_stream_lag_ops{stream=
// "market_data"}) must not count an op whose updates the publisher has taken from the
// queue but not yet fanned out. ConsumerStats called the feed idle (and handled up to
// the last op consumed) as soon as take() had emptied the queue, for the whole fan-out
// of the batch (every subscriber's write), so the lag read 0 while the publisher was
// still behind. Driven by hand: take() is publish()'s first step, and the state after it
// is the one ConsumerStats sees during the fan-out.
func TestReview50ConsumerStatsCountsTheBatchBeingPublished(t *testing.T) {
	m := newMarketData(nil, MarketDataConfig{}, 0)
	release := func(op uint64) {
		var buffer event.Buffer
		buffer.BeginOp(op)
		buffer.AppendMarketData(&model.MarketDataUpdate{Instrument: 5, Op: op})
		m.Consume(&backend.Ready{FirstOp: op, LastOp: op, Events: &buffer})
	}
	release(1)
	m.publish()
	if handled := m.ConsumerStats().HandledOp; handled != 1 {
		t.Fatalf("after op 1 published: handled op %d, want 1", handled)
	}
	release(2)
	batch, lost, _, _ := m.take() // The publisher is now fanning op 2 out.
	if len(batch) != 1 || lost {
		t.Fatalf("taken: %d updates, lost %v; want op 2's one update", len(batch), lost)
	}
	if stats := m.ConsumerStats(); stats.HandledOp != 1 {
		t.Fatalf("while op 2's updates are being fanned out: handled op %d (buffered %d), "+
			"want 1", stats.HandledOp, stats.Buffered)
	}
}
