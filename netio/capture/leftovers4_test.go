package capture

import (
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"sequent/tools/natstest"
)

// TestDemotedWhileAGapWaitsPublishesNoGap: publishGap first waits for the messages in
// flight (up to publishAckTimeout); a node demoted or fenced meanwhile must not publish
// the marker (its successor may hold another history there, and names the loss itself).
// It checked the role only before that wait, and published the marker after it.
func TestDemotedWhileAGapWaitsPublishesNoGap(t *testing.T) {
	rig := newGapRig(t)
	c := rig.capture
	rig.startSession(t)
	token, err := c.publishAfter(&nats.Msg{Subject: SubjectPrefixDefault + ".0.test",
		Data: []byte(`{"id":"0:1:0:1","kind":"test"}`)}, "0:1:0:1", c.expected)
	if err != nil {
		t.Fatal(err)
	}
	c.inflight = append(c.inflight, pendingAck{at: position{op: 1}, token: token,
		expected: c.expected})
	// The message in flight is awaited while the node is demoted: the role changes as the
	// wait for it starts.
	c.onAckWait = func() { rig.serving.Store(false) }
	c.sent, c.expected = position{op: 1}, c.expected+1
	if err := c.publishGap("test loss", 2, 3, 0, false); !errors.Is(err, errNotServing) {
		t.Fatalf("error %v, want %v", err, errNotServing)
	}
	messages := streamMessages(t, rig.url)
	if gaps := c.Stats().Gaps; gaps != 0 || len(messages) != 1 || messages[0].Kind != "test" {
		t.Fatalf("%d gaps, messages %+v; want none, the message in flight only", gaps, messages)
	}
}

// TestGapEpochFromTheLogOverAnOldSnapshot: the log's first ops are retired (it starts at
// op 3) and the oldest snapshot it continues is at op 3, which the log still holds, with
// a wrong epoch in its Meta (2: a standby at epoch 2 wrote it before snapshots named
// their entry's epoch; the entry at op 3 has epoch 1). The capture_gap through op 3 must
// name the entry the log holds (0:3:gap:1): the snapshot's epoch named an entry no log
// holds, so the next primary holding the real one would void a history that stands.
func TestGapEpochFromTheLogOverAnOldSnapshot(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6}) // Ops 1-4, epoch 1.
	node := openReplica(t, dir+"/node/log")
	node.snapshotDir = dir + "/node/snapshots"
	old.snapshotThroughEpoch(node.snapshotDir, 3, 2)
	chain, _ := old.log.ChainAt(2)
	if err := node.log.StartAfter(2, chain); err != nil {
		t.Fatal(err)
	}
	node.copyRange(old, 2, 4) // Ops 3 and 4.
	c := New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Released: func() uint64 { return 4 },
		Epoch: func() uint64 { return 2 }})
	c.Start()
	stats := awaitSequence(t, c, 3) // capture_gap through op 3, op 4's two events.
	c.Close()
	messages := streamMessages(t, url)
	if stats.LastError != "" || len(messages) != 3 || messages[0].ID != "0:3:gap:1" ||
		messages[0].Epoch != 1 || messages[0].FromOp != 1 || messages[0].ToOp != 3 ||
		!slices.Equal(accountsCreated(messages), []string{"5", "6"}) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:3:gap:1 for ops 1-3, then "+
			"op 4's events", stats, messages)
	}
}

// TestLostPositionGapEpochFromASnapshot: a standby bootstrapped from its primary's
// snapshot at op 3 (its log starts after it, empty) is promoted; the stream holds the old
// primary's ops 2 and 3 and lost its last message (op 3's last event). The lost
// position's capture_gap through op 3 must name the entry at op 3 by the epoch the
// snapshot gives (0:3:gap:1), as a gap from a snapshot does: it was published without
// an epoch (0:3:gap), which counts as agreeing with any log, because the log does not
// hold op 3.
func TestLostPositionGapEpochFromASnapshot(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1-3, messages 1-4.
	deleteMessages(t, url, 4, 4)
	promoted := openReplica(t, dir+"/promoted/log")
	promoted.snapshotDir = dir + "/promoted/snapshots"
	old.snapshotThrough(promoted.snapshotDir, 3)
	chain, _ := old.log.ChainAt(3)
	if err := promoted.log.StartAfter(3, chain); err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Log: promoted.log, SnapshotDir: promoted.snapshotDir,
		Machine: testMachine, Released: func() uint64 { return 3 },
		Epoch: func() uint64 { return 2 }})
	c.Start()
	stats := awaitGap(t, c, 5) // The marker.
	c.Close()
	messages := streamMessages(t, url)
	last := messages[len(messages)-1]
	if stats.LastError != "" || stats.Gaps != 1 || last.ID != "0:3:gap:1" || last.FromOp != 3 ||
		last.ToOp != 3 {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:3:gap:1 through op 3", stats,
			messages)
	}
}
