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

// TestReview50HandledOpNeverPassesWhatWasConsumed (review of 0d0f4364: is lostUntil
// always at or past every op of the batch, whatever Consume does between two takes?):
// Consume runs on its own goroutine with a queue of 3 updates and ops of 0 to 4 updates
// (an op of 4 overflows it whatever the scheduling; every other entry has two ops),
// while the publisher publishes in a loop. Each publish's HandledOp never goes down and
// never passes the last op consumed, and once everything is consumed and published it
// is the last op that had an update (the dropped ones included). Passes (evidence, not
// a finding).
func TestReview50HandledOpNeverPassesWhatWasConsumed(t *testing.T) {
	m := newMarketData(nil, MarketDataConfig{QueueUpdatesMax: 3, HistoryUpdatesMax: 64}, 0)
	const entries = 20000
	done := make(chan uint64, 1) // A failed check leaves no goroutine blocked.
	go func() {
		op, lastWithUpdate := uint64(0), uint64(0)
		for entry := range entries {
			var buffer event.Buffer
			first := op + 1
			for range 1 + entry%2 { // One or two ops per entry.
				op++
				buffer.BeginOp(op)
				for range (entry + int(op)) % 5 {
					buffer.AppendMarketData(&model.MarketDataUpdate{Instrument: 5, Op: op})
					lastWithUpdate = op
				}
			}
			m.Consume(&backend.Ready{FirstOp: first, LastOp: op, Events: &buffer})
		}
		done <- lastWithUpdate
	}()
	previous := uint64(0)
	check := func() {
		m.mutex.Lock()
		consumed := m.consumedOp
		m.mutex.Unlock()
		m.publish()
		handled := m.handledOp.Load()
		m.mutex.Lock()
		consumedAfter := m.consumedOp
		m.mutex.Unlock()
		if handled < previous || handled > consumedAfter {
			t.Fatalf("handled op %d after %d (consumed %d then %d)", handled, previous,
				consumed, consumedAfter)
		}
		previous = handled
	}
	var last uint64
	for waiting := true; waiting; {
		select {
		case last = <-done:
			waiting = false
		default:
			check()
		}
	}
	check()
	if stats := m.stats(); stats.HandledOp != last || stats.FellBehind == 0 {
		t.Fatalf("at the end: handled op %d, %d overflows; want %d and some",
			stats.HandledOp, stats.FellBehind, last)
	}
}
