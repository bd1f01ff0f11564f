package capture

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRecreatedStreamCountsAsLagging: an operator deleted the stream capture had filled
// and made it again (here with a limit of one message, refusing more, which holds the
// republication still for the test; then lifted). The stream's last sequence went back
// to 0, and capture republishes every event from the log, as it must. Its progress
// (HandledOp, LagOps, the lag in seconds, /healthz capture_lagging) must say so: the
// ops whose events are not in the stream are not handled. It kept the op handled in the
// old stream, so for the whole republication (hours of log on a big node, or for ever
// while the new stream refuses) capture reported no lag at all.
func TestRecreatedStreamCountsAsLagging(t *testing.T) {
	lost, c := idleAtOp3(t)

	js, closeConnection := operatorJetStream(t, lost.url)
	defer closeConnection()
	ctx := context.Background()
	config := jetstream.StreamConfig{Name: c.StreamName(), Subjects: []string{"sequent.0.>"},
		Storage: jetstream.FileStorage, Duplicates: DuplicatesDefault, MaxMsgs: 1,
		Discard: jetstream.DiscardNew}
	// An idle capture notices the deletion (streamMoved) and its next session makes the
	// stream itself: were that between the two calls, the stream is deleted again.
	for {
		if err := js.DeleteStream(ctx, c.StreamName()); err != nil &&
			!errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
		_, err := js.CreateStream(ctx, config)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			t.Fatal(err)
		}
	}
	// Op 4 released. The idle capture finds the stream's last sequence is no longer 4
	// (streamMoved; or op 4's publication fails), and the next session finds the new
	// stream empty and starts over from op 2. The stream stores op 2's first event and
	// refuses the second. Waited for with the op handled too: acknowledged stores the
	// position (sequence, op) a moment before it counts it checked, so the first two
	// alone may be read while the op handled is still 0.
	lost.released.Store(4)
	waitUntil(t, "op 2's first event in the new stream, op 1 handled", func() bool {
		stats := c.Stats()
		return stats.StreamSequence == 1 && stats.PublishedOp == 2 &&
			c.ConsumerStats().HandledOp == 1
	}, func() any { return c.Stats() })
	// Op 1 has no event; op 2's second one is not in the stream.
	if handled, stats := c.ConsumerStats().HandledOp, c.Stats(); handled != 1 || stats.LagOps != 3 {
		t.Fatalf("handled op %d, stats %+v: want op 1 handled, 3 ops behind", handled, stats)
	}

	config.MaxMsgs, config.Discard = -1, jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, config); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every event in the new stream", func() bool {
		return c.Stats().StreamSequence == 6 && c.ConsumerStats().HandledOp == 4
	}, func() any { return c.Stats() })
	messages := streamMessages(t, lost.url)
	if accounts := accountsCreated(messages); !slices.Equal(accounts,
		[]string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("the new stream holds %v: want every account once", accounts)
	}
	if stats := c.Stats(); stats.LagOps != 0 || stats.Lagging {
		t.Fatalf("caught up, yet %+v", stats)
	}
}
