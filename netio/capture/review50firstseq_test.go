package capture

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReview50RecreatedWithFirstSeqFilledAgain (review of capturehunt50, claim 2): an
// operator deleted the stream and made it again with first_seq past the old last
// sequence (so that consumers' sequences keep rising). Its last sequence did not go
// back, so capture took it for a stream that lost its last message: it published a
// capture_gap for ops 1-4, whose events the log holds (a SequentCaptureGap page,
// consumers told they are lost), instead of filling the new stream again from the log
// as it does a stream made again with its last sequence back to 0.
func TestReview50RecreatedWithFirstSeqFilledAgain(t *testing.T) {
	lost := newLostStream(t) // Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4), 4 (5, 6).
	c := New(lost.config)
	c.Start()
	defer c.Close()
	waitUntil(t, "ops 2 and 3 published", func() bool {
		return c.Stats().StreamSequence == 4 && c.ConsumerStats().HandledOp == 3
	}, func() any { return c.Stats() })
	js, closeConnection := operatorJetStream(t, lost.url)
	defer closeConnection()
	ctx := context.Background()
	config := jetstream.StreamConfig{Name: c.StreamName(), Subjects: []string{"sequent.0.>"},
		Storage: jetstream.FileStorage, Duplicates: DuplicatesDefault, FirstSeq: 100}
	// The idle capture notices the deletion and may make the stream itself between the
	// two calls: then it is deleted again.
	for attempt := 0; ; attempt++ {
		if err := js.DeleteStream(ctx, c.StreamName()); err != nil &&
			!errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
		_, err := js.CreateStream(ctx, config)
		if err == nil {
			break
		}
		if attempt == 10 || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			t.Fatal(err)
		}
	}
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
