package capture

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// failingPublish is a connection whose next failures publishes fail at once, as they do
// once the connection to NATS is gone; the later ones go through.
type failingPublish struct {
	messageSender
	failures int
}

func (f *failingPublish) PublishMsg(message *nats.Msg) error {
	if f.failures > 0 {
		f.failures--
		return nats.ErrConnectionClosed
	}
	return f.messageSender.PublishMsg(message)
}

// gapRig is a capture on a NATS server of its own, driven by hand (no publisher), whose
// log lines are kept in logged.
type gapRig struct {
	url     string
	serving atomic.Bool
	logged  bytes.Buffer
	capture *Capture
}

func newGapRig(t *testing.T) *gapRig {
	t.Helper()
	rig := &gapRig{url: natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0").ClientURL()}
	rig.serving.Store(true)
	rig.capture = New(Config{URL: rig.url, Serving: rig.serving.Load,
		Released: func() uint64 { return 5 }, // Stats reads it.
		Logger:   slog.New(slog.NewTextHandler(&rig.logged, nil))})
	t.Cleanup(rig.capture.disconnect)
	return rig
}

// startSession ends the capture's session, if any, and starts the next one by hand, up
// to where it would publish.
func (r *gapRig) startSession(t *testing.T) {
	t.Helper()
	r.capture.disconnect()
	startSessionByHand(t, r.capture)
}

// lostLines returns the "events lost" lines logged.
func (r *gapRig) lostLines() []string {
	var lines []string
	for _, line := range strings.Split(r.logged.String(), "\n") {
		if strings.Contains(line, "events lost") {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestGapMarkerRetriedCountsOnce: a capture_gap whose publish fails (NATS gone mid-session)
// is published again by the next session, which stores it. One marker is in the stream:
// Gaps (the figure operators alert on) must count one, and one "events lost" line must
// say it, as a retry. Gaps counted the failed attempt too (2), and logged it twice.
func TestGapMarkerRetriedCountsOnce(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	c.sender = &failingPublish{messageSender: c.sender, failures: 1}
	if err := c.publishGap("test loss", 1, 3, 0, false); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("first attempt: error %v, want %v", err, nats.ErrConnectionClosed)
	}
	if gaps, lines := c.Stats().Gaps, rig.lostLines(); gaps != 0 || len(lines) != 0 {
		t.Fatalf("after the failed publish: %d gaps, logged %q; want none", gaps, lines)
	}
	rig.startSession(t)
	if err := c.publishGap("test loss", 1, 3, 0, false); err != nil {
		t.Fatalf("retry: %v", err)
	}
	messages := streamMessages(t, rig.url)
	lines := rig.lostLines()
	if gaps := c.Stats().Gaps; gaps != 1 || len(messages) != 1 ||
		messages[0].Kind != "capture_gap" || len(lines) != 1 ||
		!strings.Contains(lines[0], "retry=true") {
		t.Fatalf("after the retry: %d gaps, messages %+v, logged %q; want 1 gap, one "+
			"capture_gap, one line with retry=true", gaps, messages, lines)
	}
	// A later loss from another op is a first attempt.
	if err := c.publishGap("test loss", 4, 5, 0, false); err != nil {
		t.Fatal(err)
	}
	if lines = rig.lostLines(); c.Stats().Gaps != 2 || len(lines) != 2 ||
		!strings.Contains(lines[1], "retry=false") {
		t.Fatalf("second loss: %d gaps, logged %q; want 2 gaps, the second line with "+
			"retry=false", c.Stats().Gaps, lines)
	}
}

// TestGapMarkerRefusedIsNotCounted: a second writer stores a message after the session
// read the position, so the stream refuses the capture_gap (wrong last sequence): no
// marker is stored, and none may be counted or logged as lost events. It was counted
// before the publish.
func TestGapMarkerRefusedIsNotCounted(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	js, closeConnection := operatorJetStream(t, rig.url)
	defer closeConnection()
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{
		Subject: SubjectPrefixDefault + ".0.test", Data: []byte(`{"id":"0:1:0:1","kind":"test"}`)},
		jetstream.WithMsgID("0:1:0:1")); err != nil {
		t.Fatal(err)
	}
	if err := c.publishGap("test loss", 1, 3, 0, false); err == nil {
		t.Fatal("the stream took a capture_gap expecting a sequence a second writer moved")
	}
	messages := streamMessages(t, rig.url)
	if gaps, lines := c.Stats().Gaps, rig.lostLines(); gaps != 0 || len(lines) != 0 ||
		len(messages) != 1 {
		t.Fatalf("%d gaps, logged %q, messages %+v; want none counted or logged, the "+
			"second writer's message only", gaps, lines, messages)
	}
}

// TestFencedNodeCountsNoGap: a fenced node publishes no capture_gap (its successor names
// the loss): it must count and log none. It counted one per attempt.
func TestFencedNodeCountsNoGap(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	rig.serving.Store(false)
	for range 2 { // Each session of the fenced node would try again.
		if err := c.publishGap("test loss", 1, 3, 0, false); !errors.Is(err, errNotServing) {
			t.Fatalf("error %v, want %v", err, errNotServing)
		}
	}
	gaps, lines, messages := c.Stats().Gaps, rig.lostLines(), streamMessages(t, rig.url)
	if gaps != 0 || len(lines) != 0 || len(messages) != 0 {
		t.Fatalf("%d gaps, logged %q, messages %+v; want none", gaps, lines, messages)
	}
}

// supersededLines returns the lines logged about a discarded history.
func (r *gapRig) supersededLines() []string {
	var lines []string
	for _, line := range strings.Split(r.logged.String(), "\n") {
		if strings.Contains(line, "history a failover discarded") {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestSupersededCountsOnlyStoredMarkers: Superseded (sequent_capture_superseded_total,
// which SequentCaptureSuperseded alerts on) counts the capture_superseded messages this
// node stored, as Gaps counts capture_gap ones. A marker the stream refused (a second
// writer moved its last sequence: nothing stored; the next session tries again and
// would count it again) and one it answered as the duplicate of the same marker stored
// before (the stream lost it; counted when it was stored) count none and log none. Both
// were counted, and logged, before the publish.
func TestSupersededCountsOnlyStoredMarkers(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		rig := newGapRig(t)
		c := rig.capture
		rig.startSession(t)
		js, closeConnection := operatorJetStream(t, rig.url)
		defer closeConnection()
		if _, err := js.PublishMsg(context.Background(), &nats.Msg{
			Subject: SubjectPrefixDefault + ".0.test", Data: []byte(`{"id":"0:1:0:1"}`)},
			jetstream.WithMsgID("0:1:0:1")); err != nil {
			t.Fatal(err)
		}
		if err := c.publishSuperseded(position{}, 1, 3, 1); err == nil {
			t.Fatal("the stream took a capture_superseded expecting a sequence a second " +
				"writer moved")
		}
		if superseded, lines := c.Stats().Superseded, rig.supersededLines(); superseded != 0 ||
			len(lines) != 0 {
			t.Fatalf("%d superseded, logged %q; want none", superseded, lines)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		rig := newGapRig(t)
		c := rig.capture
		rig.startSession(t)
		if err := c.publishSuperseded(position{}, 1, 3, 1); err != nil {
			t.Fatal(err)
		}
		if superseded, lines := c.Stats().Superseded, rig.supersededLines(); superseded != 1 ||
			len(lines) != 1 {
			t.Fatalf("stored: %d superseded, logged %q; want one", superseded, lines)
		}
		onStream(t, rig.url, func(stream jetstream.Stream) error {
			return stream.Purge(context.Background())
		})
		rig.startSession(t) // The stream lost its last message: the marker.
		if err := c.publishSuperseded(position{}, 1, 3, 1); err != nil {
			t.Fatal(err)
		}
		messages := streamMessages(t, rig.url)
		if superseded, lines := c.Stats().Superseded, rig.supersededLines(); superseded != 1 ||
			len(lines) != 1 || len(messages) != 0 || c.Stats().StreamSequence != 1 {
			t.Fatalf("after the duplicate: %d superseded, logged %q, messages %+v, stats "+
				"%+v; want still one, nothing stored again", superseded, lines, messages,
				c.Stats())
		}
	})
}
