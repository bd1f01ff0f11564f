package capture

import (
	"slices"
	"testing"
)

// TestReview50bStreamMadeAgainBeforeThePollIsFilledAgain: claim of capturehunt50's
// review: "a stream re-created with first_seq is filled again".
// A session that has published nothing yet (it started after its events were stored: a
// restart, a NATS blip) sends its first message with the expected last sequence only
// (no Nats-Expected-Last-Msg-Id). When the operator makes the stream again with
// first_seq = the old last sequence + 1 and an event is released before the idle
// poll (streamMoved, once a second) reads the stream, that event is stored as the new
// stream's first message; the next session resumes after it, and the events of ops 2-3
// are never in the new stream: no capture_gap, no lag. Timing-dependent in the failing
// direction only (the poll may come first, then it passes).
func TestReview50bStreamMadeAgainBeforeThePollIsFilledAgain(t *testing.T) {
	lost := newLostStream(t) // Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4), 4 (5, 6).
	lost.run(t, 4)
	c := New(lost.config)
	c.Start()
	defer c.Close()
	waitUntil(t, "a session idle at ops 2-3", func() bool {
		return c.Stats().Rebuilds == 1 && c.ConsumerStats().HandledOp == 3
	}, func() any { return c.Stats() })
	recreateStreamAt(t, lost.url, c.StreamName(), 5)
	lost.released.Store(4)
	waitUntil(t, "op 4 handled", func() bool {
		stats := c.Stats()
		return stats.PublishedOp == 4 && c.ConsumerStats().HandledOp == 4
	}, func() any { return c.Stats() })
	messages := streamMessages(t, lost.url)
	if accounts := accountsCreated(messages); !slices.Equal(accounts,
		[]string{"1", "2", "3", "4", "5", "6"}) && len(gapMarkers(messages)) == 0 {
		t.Fatalf("the new stream holds %v, no capture_gap: ops 2-3 silently missing",
			accounts)
	}
}
