package capture

import (
	"slices"
	"testing"
)

// TestReview50RecreatedWithFirstSeqFilledAgain (review of capturehunt50, claim 2): an
// operator deleted the stream and made it again with first_seq past the old last
// sequence (so that consumers' sequences keep rising). Its last sequence did not go
// back, so capture took it for a stream that lost its last message: it published a
// capture_gap for ops 1-4, whose events the log holds (a SequentCaptureGap page,
// consumers told they are lost), instead of filling the new stream again from the log
// as it does a stream made again with its last sequence back to 0.
func TestReview50RecreatedWithFirstSeqFilledAgain(t *testing.T) {
	lost, c := idleAtOp3(t)
	recreateStreamAt(t, lost.url, c.StreamName(), 100)
	lost.released.Store(4)
	waitUntil(t, "op 4 in the new stream", func() bool {
		stats := c.Stats()
		return stats.PublishedOp == 4 && stats.StreamSequence >= 100 &&
			c.ConsumerStats().HandledOp == 4
	}, func() any { return c.Stats() })
	stats := c.Stats()
	messages := streamMessages(t, lost.url)
	if gaps := gapMarkers(messages); stats.Gaps != 0 || len(gaps) != 0 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("stats %+v, messages %+v: want the new stream filled again, no gap", stats,
			messages)
	}
}
