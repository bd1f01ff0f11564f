package capture

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Review of capturehunt50 (session 50).

// recreateStream deletes the shard's stream and makes it again, empty, as an operator
// would (same subjects and duplicate window as capture makes it).
func recreateStream(t *testing.T, url string, name string) {
	t.Helper()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	if err := js.DeleteStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name,
		Subjects: []string{SubjectPrefixDefault + ".0.>"}, Storage: jetstream.FileStorage,
		Duplicates: DuplicatesDefault}); err != nil {
		t.Fatal(err)
	}
}

// idleAtOp3 starts a capture on newLostStream's stream and waits until its session is
// idle at ops 2 and 3 (stored and handled, op 4 not released yet).
func idleAtOp3(t *testing.T) (lostStream, *Capture) {
	t.Helper()
	lost := newLostStream(t) // Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4), 4 (5, 6).
	c := New(lost.config)
	c.Start()
	t.Cleanup(c.Close)
	waitUntil(t, "ops 2 and 3 published", func() bool {
		return c.Stats().StreamSequence == 4 && c.ConsumerStats().HandledOp == 3
	}, func() any { return c.Stats() })
	return lost, c
}

// streamHolds returns whether the shard's stream, as an operator reads it, holds count
// messages (the caller polls it: a read every 10 ms).
func streamHolds(t *testing.T, url string, name string, count uint64) func() bool {
	t.Helper()
	js, closeConnection := operatorJetStream(t, url)
	t.Cleanup(closeConnection)
	return func() bool {
		time.Sleep(10 * time.Millisecond)
		stream, err := js.Stream(context.Background(), name)
		return err == nil && stream.CachedInfo().State.Msgs == count
	}
}

// TestReview50IdleCaptureNoticesRecreatedStream: claim (2) of capturehunt50 says a
// stream deleted and made again "is filled again from the log ... and those ops count
// as lag until stored" (README). Only a session that starts notices (the reset is in
// session()). A primary idle in its live session, or in a rebuild waiting for its
// shard's release, makes no call to the stream: it kept HandledOp at the ops it had
// stored in the old stream, reported no lag, and left the new stream empty until the
// next event was released (for ever on a quiet node), the same bug by another path.
// Checked idle live (a shard feeding the queue) and idle rebuilding (no live queue).
func TestReview50IdleCaptureNoticesRecreatedStream(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		rig := newCaptureRig(t, 0)
		rig.accounts()
		rig.waitPublished(2)
		c := rig.capture
		waitUntil(t, "an idle live session", func() bool {
			return c.ConsumerStats().HandledOp >= 2
		}, func() any { return c.Stats() })
		recreateStream(t, rig.url, c.StreamName())
		waitUntil(t, "the new stream filled again from the log",
			streamHolds(t, rig.url, c.StreamName(), 2), func() any { return c.Stats() })
	})
	t.Run("rebuilding", func(t *testing.T) {
		lost, c := idleAtOp3(t)
		recreateStream(t, lost.url, c.StreamName())
		waitUntil(t, "the new stream filled again from the log",
			streamHolds(t, lost.url, c.StreamName(), 4), func() any { return c.Stats() })
	})
}
