package capture

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Second review of capture's session-50 changes (capturehunt50 and its review).

// recreateStreamAt deletes the shard's stream and makes it again, empty, with first_seq
// firstSeq, as an operator keeping consumers' sequences rising would (first_seq past the
// old last sequence). An idle capture may notice the deletion and make the stream itself
// between the two calls: then it is deleted again.
func recreateStreamAt(t *testing.T, url, name string, firstSeq uint64) {
	t.Helper()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	config := jetstream.StreamConfig{Name: name, Subjects: []string{SubjectPrefixDefault + ".0.>"},
		Storage: jetstream.FileStorage, Duplicates: DuplicatesDefault, FirstSeq: firstSeq}
	for attempt := 0; ; attempt++ {
		if err := js.DeleteStream(ctx, name); err != nil &&
			!errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
		_, err := js.CreateStream(ctx, config)
		if err == nil {
			return
		}
		if attempt == 10 || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			t.Fatal(err)
		}
	}
}

// TestReview50bIdleCaptureNoticesStreamMadeAgainAtItsLastSequence: claim of
// capturehunt50's review (streamMoved, madeEmpty): an idle publisher notices its stream
// deleted and made again, and a stream made again with a first sequence is filled
// again. The way an operator keeps consumers' sequences rising is first_seq = the old
// last sequence + 1: the new stream's last sequence is then exactly the one the idle
// session expects, so streamMoved (which compares the last sequence only) never fired:
// the session kept reporting every op handled (no lag) and left the new stream empty
// until the next event was released (for ever on a quiet node): the same bug by the one
// path its own madeEmpty names. Checked idle live and idle rebuilding.
func TestReview50bIdleCaptureNoticesStreamMadeAgainAtItsLastSequence(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		rig := newCaptureRig(t, 0)
		rig.accounts()
		rig.waitPublished(2)
		c := rig.capture
		waitUntil(t, "an idle live session", func() bool {
			return c.ConsumerStats().HandledOp >= 2
		}, func() any { return c.Stats() })
		recreateStreamAt(t, rig.url, c.StreamName(), 3)
		waitUntil(t, "the new stream filled again from the log",
			streamHolds(t, rig.url, c.StreamName(), 2), func() any { return c.Stats() })
	})
	t.Run("rebuilding", func(t *testing.T) {
		lost := newLostStream(t) // Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4), 4 (5, 6).
		c := New(lost.config)
		c.Start()
		defer c.Close()
		waitUntil(t, "ops 2 and 3 published", func() bool {
			return c.Stats().StreamSequence == 4 && c.ConsumerStats().HandledOp == 3
		}, func() any { return c.Stats() })
		recreateStreamAt(t, lost.url, c.StreamName(), 5)
		waitUntil(t, "the new stream filled again from the log",
			streamHolds(t, lost.url, c.StreamName(), 4), func() any { return c.Stats() })
	})
}

// TestReview50bStreamEditedIsNotMoved: the creation time streamMoved compares stays
// through an operator's edit of the stream (limits, duplicate window), so a healthy
// idle session is not ended by one; only the stream made again is told. streamMoved is
// called directly on a publisher's state (no goroutine runs it): no timing involved.
func TestReview50bStreamEditedIsNotMoved(t *testing.T) {
	lost := newLostStream(t)
	c := New(lost.config)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	defer c.disconnect()
	if err := c.readPosition(); err != nil {
		t.Fatal(err)
	}
	c.expected = c.streamSequence.Load()
	js, closeConnection := operatorJetStream(t, lost.url)
	defer closeConnection()
	ctx := context.Background()
	config := jetstream.StreamConfig{Name: c.StreamName(), Subjects: []string{"sequent.0.>"},
		Storage: jetstream.FileStorage, Duplicates: DuplicatesDefault, MaxMsgs: 1000}
	if _, err := js.UpdateStream(ctx, config); err != nil {
		t.Fatal(err)
	}
	if err := c.streamMoved(); err != nil {
		t.Fatalf("an edited stream read as moved: %v", err)
	}
	recreateStreamAt(t, lost.url, c.StreamName(), c.expected+1)
	c.streamPolledAt = time.Time{} // Due again.
	if err := c.streamMoved(); err == nil {
		t.Fatal("a stream made again at the expected last sequence not told")
	}
}
