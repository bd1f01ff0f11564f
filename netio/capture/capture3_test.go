package capture

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/event"
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

// TestPartlyStoredWarningOnlyWhenUnknownOnce: in damagedLayout nothing before the live
// queue can be rebuilt (skipToLive), and the stream ends with op 2's last event (index
// 1). Sessions are driven by hand: each starts from the stream's position and the
// shard consumes one entry into the new queue. The first (the queue starts at op 3)
// cannot know whether op 2 was stored whole, and warns that its rest may be lost. The
// second starts from the same position (the first ended with nothing more published: a
// NATS blip) and must not warn of it again. It then publishes op 4 (accounts 5 and 6)
// from its queue, whole, and ends; the third starts after op 4's last event, which this
// node stored itself, so nothing can be missing: no warning. Both were warned of again.
func TestPartlyStoredWarningOnlyWhenUnknownOnce(t *testing.T) {
	_, node, server, _, _ := damagedLayout(t)
	var logged bytes.Buffer // Written on this goroutine only (no publisher runs).
	var c *Capture
	var armed atomic.Bool
	var first atomic.Pointer[backend.Ready] // The entry the shard consumes into a new queue.
	c = New(Config{URL: server.ClientURL(), Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Epoch: func() uint64 { return 2 },
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Released: func() uint64 {
			if firstReadOnceJoining(c, &armed) {
				c.Consume(first.Load())
			}
			return first.Load().FirstOp - 1
		}})
	defer c.disconnect()
	session := func(queueFirst *backend.Ready) {
		t.Helper()
		c.disconnect() // The session before ended (a NATS blip).
		first.Store(queueFirst)
		armed.Store(true)
		startSessionByHand(t, c)
		if err := c.rebuild(); err != nil { // skipToLive.
			t.Fatal(err)
		}
	}
	noEvents := &backend.Ready{FirstOp: 3, LastOp: 3, Events: &event.Buffer{}}
	session(noEvents)
	session(noEvents)
	c.Consume(accountsReady(4, 1, time.Now().UnixNano(), 5, 6)) // Op 4 of epoch 1, as logged.
	c.mutex.Lock()
	c.lost = true // Live publishes the queue, then ends.
	c.mutex.Unlock()
	if err := c.live(); err != nil || c.at != (position{op: 4, index: 1}) {
		t.Fatalf("live: %v, position %+v; want op 4's two events stored", err, c.at)
	}
	session(accountsReady(5, 2, time.Now().UnixNano(), 9))
	var warnings []string
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "cannot be rebuilt") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "op=2 index=1") {
		t.Fatalf("warnings %q: want one, of op 2 after index 1", warnings)
	}
}

// wallLagClock makes the lag clock the wall clock for the test (read once: both agree
// to the nanosecond), for tests that compare instants noted from entry timestamps with
// those timestamps exactly; two separate readings differ by a few nanoseconds.
func wallLagClock(t *testing.T) {
	t.Helper()
	realRead, realLag := readClock, lagNow
	t.Cleanup(func() { readClock, lagNow = realRead, realLag })
	lagNow = func() int64 { return time.Now().UnixNano() }
	readClock = func() (int64, int64) {
		wall := time.Now().UnixNano()
		return wall, wall
	}
}

// steppedClock replaces the clocks for the test: the wall clock reads stepNs off the
// real one, and elapsedNs (the time the test pretends has passed) is added to both.
func steppedClock(t *testing.T, stepNs, elapsedNs *atomic.Int64) {
	t.Helper()
	realRead, realLag := readClock, lagNow
	t.Cleanup(func() { readClock, lagNow = realRead, realLag })
	lagNow = func() int64 { return realLag() + elapsedNs.Load() }
	readClock = func() (int64, int64) {
		lag, wall := realRead()
		return lag + elapsedNs.Load(), wall + elapsedNs.Load() + stepNs.Load()
	}
}

// TestLagIgnoresWallClockSteps: under load (op 10 released, op 9's entry, released
// just now, stored) the wall clock is stepped (NTP, an operator). A step forward of an
// hour is no lag: capture is current, and must not say otherwise (it showed an hour, and
// /healthz reported capture_lagging until an entry released after the step was stored).
// Then NATS is gone for 20 minutes, the clock stepped back an hour meanwhile: capture
// lags 20 minutes, past LagWarning (15 here, so that no real delay of the test counts),
// and must say so (it showed 0 for the step's length). The clocks are injected; the lag
// is the monotonic clock's.
func TestLagIgnoresWallClockSteps(t *testing.T) {
	var stepNs, elapsedNs atomic.Int64
	steppedClock(t, &stepNs, &elapsedNs)
	c := New(Config{Released: func() uint64 { return 10 }, LagWarning: 15 * time.Minute})
	c.inflight = []pendingAck{{at: position{op: 9}, released: lagNow(), entryEnd: true}}
	if err := c.acknowledged(&jetstream.PubAck{Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	stepNs.Store(int64(time.Hour))
	if stats := c.Stats(); stats.LagOps != 1 || stats.Lagging {
		t.Fatalf("current, then the wall clock stepped an hour forward: %+v; want no lag",
			stats)
	}
	stepNs.Store(-int64(time.Hour))
	elapsedNs.Store(int64(20 * time.Minute))
	if stats := c.Stats(); stats.LagSeconds < 20*60 || !stats.Lagging {
		t.Fatalf("20 minutes without NATS, the wall clock stepped an hour back: %+v; want "+
			"20 minutes of lag, lagging", stats)
	}
}
