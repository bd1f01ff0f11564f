package capture

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// demotingFuture is a message in flight whose acknowledgement is awaited while the node
// is demoted: the role changes as the wait for it starts.
type demotingFuture struct {
	jetstream.PubAckFuture
	demote func()
}

func (f *demotingFuture) Ok() <-chan *jetstream.PubAck {
	f.demote()
	return f.PubAckFuture.Ok()
}

// TestDemotedWhileAGapWaitsPublishesNoGap: publishGap first waits for the messages in
// flight (up to publishAckTimeout); a node demoted or fenced meanwhile must not publish
// the marker (its successor may hold another history there, and names the loss itself).
// It checked the role only before that wait, and published the marker after it.
func TestDemotedWhileAGapWaitsPublishesNoGap(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	future, err := c.publishAfter(&nats.Msg{Subject: SubjectPrefixDefault + ".0.test",
		Data: []byte(`{"id":"0:1:0:1","kind":"test"}`)}, "0:1:0:1", c.expected)
	if err != nil {
		t.Fatal(err)
	}
	c.inflight = append(c.inflight, pendingAck{at: position{op: 1},
		future:   &demotingFuture{PubAckFuture: future, demote: func() { rig.serving.Store(false) }},
		expected: c.expected})
	c.sent, c.expected = position{op: 1}, c.expected+1
	if err := c.publishGap("test loss", 2, 3, 0, false); !errors.Is(err, errNotServing) {
		t.Fatalf("error %v, want %v", err, errNotServing)
	}
	messages := streamMessages(t, rig.url)
	if gaps := c.Stats().Gaps; gaps != 0 || len(messages) != 1 || messages[0].Kind != "test" {
		t.Fatalf("%d gaps, messages %+v; want none, the message in flight only", gaps, messages)
	}
}
