package capture

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Review of capturehunt50 (session 50), claim (3).

// lostAck is a JetStream whose next synchronous publish is stored by the server but
// answered with an error, as when the acknowledgement is lost (NATS went away, or the
// answer came after publishAckTimeout).
type lostAck struct {
	jetstream.JetStream
	lost bool
}

func (l *lostAck) PublishMsg(ctx context.Context, message *nats.Msg,
	options ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := l.JetStream.PublishMsg(ctx, message, options...)
	if err == nil && !l.lost {
		l.lost = true
		return nil, context.DeadlineExceeded
	}
	return ack, err
}

// TestReview50SupersededStoredWithLostAckCounted: claim (3) of capturehunt50 counts and
// logs capture_superseded only on a stored, non-duplicate acknowledgement. A marker the
// stream stored whose acknowledgement was lost is the stream's last message at the next
// session, which then publishes nothing (a marker agrees): this node voided a history
// and nothing ever said so on it, neither sequent_capture_superseded_total (so no
// SequentCaptureSuperseded alert) nor the error line. Before the change it was counted
// and logged before the publish. Want: counted and logged once, by the session that
// finds its own marker stored.
func TestReview50SupersededStoredWithLostAckCounted(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	c.js = &lostAck{JetStream: c.js}
	if err := c.publishSuperseded(position{}, 1, 3, 1); err == nil {
		t.Fatal("the publish's acknowledgement was lost, yet no error")
	}
	rig.startSession(t) // Reads the marker as the stream's last message.
	messages := streamMessages(t, rig.url)
	if len(messages) != 1 || messages[0].Kind != "capture_superseded" {
		t.Fatalf("the stream holds %+v: want the marker only", messages)
	}
	if superseded, lines := c.Stats().Superseded, rig.supersededLines(); superseded != 1 ||
		len(lines) != 1 {
		t.Fatalf("%d superseded, logged %q; want the stored marker counted and logged once",
			superseded, lines)
	}
	rig.startSession(t) // Once: a later session finds the same marker.
	if superseded, lines := c.Stats().Superseded, rig.supersededLines(); superseded != 1 ||
		len(lines) != 1 {
		t.Fatalf("next session: %d superseded, logged %q; want still once", superseded, lines)
	}
}
