package netio

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
)

// TestMarketDataIdleAgainOnceABatchIsOut: once the publisher has fanned a batch out, the
// feed is idle again, so entries released after it without market data count as handled
// at once (they cost the feed nothing): the lag of a quiet market goes back to 0 instead
// of staying at the last op with an update.
func TestMarketDataIdleAgainOnceABatchIsOut(t *testing.T) {
	m := newMarketData(nil, MarketDataConfig{}, 0)
	var buffer event.Buffer
	buffer.BeginOp(1)
	buffer.AppendMarketData(&model.MarketDataUpdate{Instrument: 5, Op: 1})
	m.Consume(&backend.Ready{FirstOp: 1, LastOp: 1, Events: &buffer})
	m.publish()
	var quiet event.Buffer
	quiet.BeginOp(2)
	m.Consume(&backend.Ready{FirstOp: 2, LastOp: 3, Events: &quiet})
	if stats := m.ConsumerStats(); stats.HandledOp != 3 || stats.Buffered != 0 {
		t.Fatalf("ops 2 and 3 without updates after op 1 was published: handled op %d "+
			"(buffered %d), want 3", stats.HandledOp, stats.Buffered)
	}
}
