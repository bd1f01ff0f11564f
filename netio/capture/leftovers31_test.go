package capture

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// The change-capture questions session 30's re-read left open, settled by tests.

// damagedLayout is leftoverLayout over a NATS server the test can restart: the stream
// holds ops 1 (grants) and 2 (accounts 1, 2) from the old primary, whose log also holds
// op 3 (no event) and op 4 (accounts 5, 6), not published; the node's log starts at op
// 4 after a snapshot at op 3, damaged, over a leftover at op 2 that the log does not
// continue: nothing before the node's live queue can be rebuilt (skipToLive).
func damagedLayout(t *testing.T) (old, node *replica, server *natsserver.Server, natsDir,
	host string) {
	t.Helper()
	natsDir, server, host = restartableNATS(t)
	old, node = leftoverReplicas(t, natsDir, server.ClientURL())
	damageSnapshot(t, node.snapshotDir, 3, true)
	return old, node, server, natsDir, host
}

// streamEnd returns the stream's last sequence and its last message's id.
func streamEnd(t *testing.T, url string) (last uint64, id string) {
	t.Helper()
	onStream(t, url, func(stream jetstream.Stream) error {
		last = stream.CachedInfo().State.LastSeq
		message, err := stream.GetMsg(context.Background(), last)
		if err == nil {
			id = message.Header.Get(jetstream.MsgIDHeader)
		}
		return err
	})
	return last, id
}

// startSessionByHand runs what a primary's session runs before its catch-up (session):
// it connects, reads the stream's position, settles a divergence and takes the
// position as checked and sent, nothing in flight; the test then drives the rest
// (rebuild, publishGap) itself.
func startSessionByHand(t *testing.T, c *Capture) {
	t.Helper()
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	if err := c.readPosition(); err != nil {
		t.Fatal(err)
	}
	if err := c.settleDivergence(); err != nil {
		t.Fatal(err)
	}
	c.positionChecked()
	c.sent, c.expected, c.inflight = c.at, c.streamSequence.Load(), c.inflight[:0]
	c.sentID = ""
}

// firstReadOnceJoining reports whether c's queue is open and not joined yet (the
// session waits for its first entry: joining), the first time it is so while armed is
// set (it is cleared then): where a test's shard consumes an entry into the new queue,
// once, from c's Released, just before it counts that entry released.
func firstReadOnceJoining(c *Capture, armed *atomic.Bool) bool {
	c.mutex.Lock()
	joining := c.joining
	c.mutex.Unlock()
	return joining && armed.CompareAndSwap(true, false)
}

// TestSkipToLiveLeavesNothingInFlight: skipToLive ends without the awaitAll that
// rebuild ends with; it must still return with everything it published stored and
// acknowledged, so that a crash, or NATS restarting, right after loses and repeats
// nothing. In damagedLayout the released op is 4 when skipToLive reads it (capture_gap
// 3-4); op 5 counts as released only after, having been consumed before the queue
// opened (dropped), and op 6 is the queue's first (capture_gap 5). The session is driven
// by hand up to the end of rebuild, to look at that instant: nothing in flight, the
// stream's last sequence and message id those the next message would expect. Then the
// capture dies there (op 6 dies with its queue) and NATS restarts: the next capture
// names op 6 in a third capture_gap and publishes op 7 from its queue. Every op is
// then in the stream once, as events or in a gap.
func TestSkipToLiveLeavesNothingInFlight(t *testing.T) {
	_, node, server, natsDir, host := damagedLayout(t)
	url := server.ClientURL()
	var released atomic.Uint64
	released.Store(4)
	c := New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Released: released.Load, Epoch: func() uint64 { return 2 }})
	defer c.Close()
	startSessionByHand(t, c)
	firstGap := c.expected + 1
	// The shard, on its own goroutine: counts op 5 released once skipToLive has stored
	// the first capture_gap, then releases op 6 into the queue.
	shardDone := make(chan struct{})
	go func() {
		defer close(shardDone)
		// A hang guard, not a timing assertion: on a failure rebuild returns first.
		for deadline := time.Now().Add(time.Minute); c.streamSequence.Load() < firstGap &&
			time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		released.Store(5)
		c.Consume(accountsReady(6, 2, time.Now().UnixNano(), 9))
		released.Store(6)
	}()
	err := c.rebuild() // skipToLive, then back to the session (which would go live).
	<-shardDone
	if err != nil {
		t.Fatal(err)
	}
	sequence, id := streamEnd(t, url)
	if len(c.inflight) != 0 || c.expected != sequence || c.streamSequence.Load() != sequence ||
		c.sentID != id || id != "0:5:gap" || c.sent != (position{op: 5, index: 1<<32 - 1}) {
		t.Fatalf("skipToLive returned with %d messages in flight, expecting sequence %d "+
			"after %q (position %+v, sent %+v); the stream ends at %d with %q: want all "+
			"stored, ending with capture_gap through op 5", len(c.inflight), c.expected,
			c.sentID, c.at, c.sent, sequence, id)
	}
	c.disconnect() // Dies here: op 6's events, in the queue, with it.
	server.Shutdown()
	server.WaitForShutdown()
	url = natstest.Start(t, natsDir+"/nats", host).ClientURL()

	var next *Capture
	var armed atomic.Bool
	armed.Store(true)
	next = New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Epoch: func() uint64 { return 2 },
		Released: func() uint64 {
			if firstReadOnceJoining(next, &armed) {
				next.Consume(accountsReady(7, 2, time.Now().UnixNano(), 10))
				released.Store(7)
			}
			return released.Load()
		}})
	next.Start()
	defer next.Close()
	stats := awaitStats(t, next, func(s Stats) bool { return s.PublishedOp >= 7 })
	next.Close()
	messages := streamMessages(t, url)
	gaps := gapMarkers(messages)
	ids := make([]string, len(messages))
	for i := range messages {
		ids[i] = messages[i].ID
	}
	slices.Sort(ids)
	if stats.LastError != "" || len(gaps) != 3 || gaps[0].FromOp != 3 || gaps[0].ToOp != 4 ||
		gaps[1].FromOp != 5 || gaps[1].ToOp != 5 || gaps[2].FromOp != 6 || gaps[2].ToOp != 6 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "10"}) ||
		len(slices.Compact(ids)) != len(messages) {
		t.Fatalf("stats %+v; messages %+v: want accounts 1, 2, capture_gap 3-4, 5, 6, "+
			"account 10, each once", stats, messages)
	}
}

// TestSkipToLiveWarnsOfAPartlyStoredOp: in damagedLayout, the old primary's capture had
// also stored the first of op 4's two events (account 5) when its session ended (a
// demotion here; a NATS blip or a crash alike). The node's stream position is then op 4
// index 0, which its log holds (it agrees), but no snapshot the log continues can be
// read: op 4's second event (account 6) cannot be rebuilt. The stream cannot tell a
// partly stored op from a whole one, so capture_gap names the ops after the position
// (op 5, released before the queue's first, op 6), as it does when the position is an
// op's last event, the usual case (a marker naming op 4 would then be a false alarm).
// The possible loss of op 4's rest must then be logged, as resumeFrom logs its own: it
// went without a word.
func TestSkipToLiveWarnsOfAPartlyStoredOp(t *testing.T) {
	old, node, server, _, _ := damagedLayout(t)
	url := server.ClientURL()
	before := uint64(len(streamMessages(t, url)))
	var publisher *Capture
	publisher = New(Config{URL: url, Log: old.log, Machine: testMachine,
		Released: func() uint64 { return 4 }, Epoch: func() uint64 { return 1 }, BatchMax: 1,
		// Demoted once account 5 is stored: BatchMax 1 stores each message before the
		// role is read for the next.
		Serving: func() bool { return publisher.streamSequence.Load() < before+1 }})
	publisher.Start()
	waitUntil(t, "account 5 stored", func() bool {
		return publisher.streamSequence.Load() >= before+1
	}, func() any { return publisher.Stats() })
	publisher.Close()
	if got := accountsCreated(streamMessages(t, url)); !slices.Equal(got,
		[]string{"1", "2", "5"}) {
		t.Fatalf("the old primary stored accounts %v, want 1, 2, 5", got)
	}

	var logged bytes.Buffer // Written by the publisher only; read once it has stopped.
	var c *Capture
	var armed atomic.Bool
	armed.Store(true)
	c = New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Epoch: func() uint64 { return 2 },
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Released: func() uint64 {
			// Op 6 is the queue's first; op 5, consumed before the queue opened, is lost.
			if firstReadOnceJoining(c, &armed) {
				c.Consume(accountsReady(6, 2, time.Now().UnixNano(), 9))
			}
			return 5
		}})
	c.Start()
	defer c.Close()
	stats := awaitStats(t, c, func(s Stats) bool { return s.PublishedOp >= 6 })
	c.Close()
	messages := streamMessages(t, url)
	gaps := gapMarkers(messages)
	if stats.LastError != "" || len(gaps) != 1 || gaps[0].FromOp != 5 || gaps[0].ToOp != 5 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "5", "9"}) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap for op 5, then op 6 (account 9)",
			stats, messages)
	}
	warned := slices.ContainsFunc(strings.Split(logged.String(), "\n"), func(line string) bool {
		return strings.Contains(line, "level=WARN") && strings.Contains(line, "cannot be rebuilt") &&
			strings.Contains(line, "op=4 index=0")
	})
	if !warned {
		t.Fatalf("no warning that op 4's events after index 0 may be lost; logged:\n%s",
			logged.String())
	}
}

// TestDemotedCaptureQueuesNothing: a primary's live session ends on its demotion without
// a loss, so its queue stays open (set by hand here, as live leaves it). As a standby it
// kept copying every released entry's events into that queue, which a standby never
// publishes: up to QueueEventsMax events (hundreds of MiB by default) held for nothing,
// then a fell-behind counted against a standby. Nothing must be queued (a promotion's
// rebuild publishes from the log what the stream lacks).
func TestDemotedCaptureQueuesNothing(t *testing.T) {
	c := New(Config{Released: func() uint64 { return 4 }, QueueEventsMax: 4,
		Serving: func() bool { return false }})
	c.lost = false // The demoted primary's live queue, still open.
	for op := uint64(2); op <= 4; op++ {
		c.Consume(accountsReady(op, 1, time.Now().UnixNano(), 2*op-3, 2*op-2))
	}
	if stats := c.ConsumerStats(); stats.Buffered != 0 || stats.FellBehind != 0 ||
		len(c.unpublished) == 0 {
		t.Fatalf("a standby consumed 3 entries (6 events): %+v, %d lag spans; want "+
			"nothing queued, no fell-behind, its lag spans noted", stats, len(c.unpublished))
	}
}
