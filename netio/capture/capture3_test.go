package capture

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The change-capture leftovers of session 31, settled by tests (session 32).

// TestGapMarkerSettlesItsWholeOp: a capture_gap through op 5 settles every event of op 5
// (its id has no index: the stream continues after the op), so once it is stored, or
// read and checked as the position a primary's session starts from, HandledOp is 5.
// It stayed at 4 (the rule for an event's op, which may have more events in flight)
// until the live queue was next idle, so LagOps showed one op too many meanwhile.
func TestGapMarkerSettlesItsWholeOp(t *testing.T) {
	gap := position{op: 5, index: math.MaxUint32}
	stored := New(Config{Released: func() uint64 { return 10 }})
	stored.inflight = []pendingAck{{at: gap, expected: 3}}
	if err := stored.acknowledged(&jetstream.PubAck{Sequence: 4}); err != nil {
		t.Fatal(err)
	}
	// publishLostPosition's marker, answered as the duplicate of one the stream lost.
	duplicate := New(Config{Released: func() uint64 { return 10 }})
	duplicate.inflight = []pendingAck{{at: gap, expected: 3, lostPosition: true}}
	if err := duplicate.acknowledged(&jetstream.PubAck{Sequence: 3, Duplicate: true}); err != nil {
		t.Fatal(err)
	}
	read := New(Config{Released: func() uint64 { return 10 }})
	read.storePosition(gap, 3)
	read.positionChecked()
	for name, c := range map[string]*Capture{"stored": stored,
		"acknowledged as a lost marker's duplicate": duplicate, "read": read} {
		if stats := c.ConsumerStats(); stats.HandledOp != 5 || c.Stats().LagOps != 5 {
			t.Errorf("capture_gap through op 5 %s: handled op %d, %d ops behind; want 5, 5",
				name, stats.HandledOp, c.Stats().LagOps)
		}
	}
}

// TestIdlePublisherLeavesOnDemotion: a primary's publisher waits idle in its live
// session (queue open and empty, nothing in flight) when the node is fenced or demoted.
// A fenced node releases nothing more, so no entry with events comes to end the session
// through Consume: the publisher must notice the role itself (at its next poll) and
// return, so that the next session watches the stream as a standby (holding the log
// after what its successor publishes). It stayed in the live session for good.
func TestIdlePublisherLeavesOnDemotion(t *testing.T) {
	var serving atomic.Bool
	serving.Store(true)
	c := New(Config{Released: func() uint64 { return 1 }, Serving: serving.Load})
	c.lost = false // Live, as after a rebuild joined the queue.
	returned := make(chan error, 1)
	go func() { returned <- c.waitLive() }()
	serving.Store(false) // Fenced.
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // A hang guard, not a timing assertion.
		close(c.stop)
		t.Fatalf("the idle publisher of a fenced node stayed live (returned %v)", <-returned)
	}
}
