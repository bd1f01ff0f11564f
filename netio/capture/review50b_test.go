package capture

import (
	"context"
	"errors"
	"slices"
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
		lost, c := idleAtOp3(t)
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

// TestReview50bFirstSeqEditedIsNotMadeEmpty: claim of capturehunt50's review
// (madeEmpty): "a stream whose last sequence is its configured first_seq - 1 is read as
// empty ... A purge keeps no such relation". An edit does: the NATS server accepts
// first_seq in an update of a stream that holds messages (a declarative tool applying a
// config, an operator's `nats stream edit`), and changes nothing in it until a restart.
// With first_seq set to the last sequence + 1, capture read the stream holding ops 2-3
// as empty: it skipped its last message, republished every event from op 1 under ids
// the duplicate window still held (answered as duplicates: every session failed,
// "resynchronizing", for the window's length), and past the window would have published
// them all twice. Only a stream that never stored a message (no last time) was made
// empty with first_seq.
func TestReview50bFirstSeqEditedIsNotMadeEmpty(t *testing.T) {
	lost := newLostStream(t) // Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4), 4 (5, 6).
	lost.run(t, 4)
	js, closeConnection := operatorJetStream(t, lost.url)
	defer closeConnection()
	if _, err := js.UpdateStream(context.Background(), jetstream.StreamConfig{
		Name: StreamDefault + "_0", Subjects: []string{"sequent.0.>"},
		Storage: jetstream.FileStorage, Duplicates: DuplicatesDefault, FirstSeq: 5}); err != nil {
		t.Fatal(err)
	}
	lost.released.Store(4)
	c := New(lost.config)
	c.Start()
	defer c.Close()
	waitUntil(t, "op 4 published after the edit", func() bool {
		return c.Stats().StreamSequence == 6 && c.ConsumerStats().HandledOp == 4
	}, func() any { return c.Stats() })
	messages := streamMessages(t, lost.url)
	if stats := c.Stats(); stats.Gaps != 0 || stats.LastError != "" ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("stats %+v, messages %+v: want op 4 after op 3, nothing again", stats,
			messages)
	}
}
