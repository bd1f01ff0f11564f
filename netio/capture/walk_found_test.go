package capture

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// Bugs found by TestCaptureWalk, each shrunk to a deterministic test.

// Found by the walk (seed 105, 30 steps): a capture that holds "all of the log" (HeldOp
// 0: a primary's position not checked yet, a standby that has read none) on a log that
// starts after a snapshot let the shard prune that snapshot, so the log it held could not
// be replayed any more.

// TestUncheckedHoldKeepsTheSnapshotTheLogStartsFrom: a node whose log starts after a
// snapshot at op 2 (its older segments retired, or bootstrapped from its primary's
// snapshot) holds op 3 (accounts 3, 4, in the stream) and restarts while NATS is down:
// its capture has not checked the stream's position, so it holds all of its log. It
// writes op 4 (account 5) and a snapshot request at op 5, keeping one snapshot. When
// NATS returns, capture resumes after op 3 and needs a snapshot before op 3 and the log
// after it: the snapshot at op 2 must have stayed. Pruned (the hold kept "the newest
// snapshot at or before op 1", which does not exist), capture had only the one at op 5,
// published capture_gap for ops 4-5 and never published account 5, though the log held
// op 4 all along.
func TestUncheckedHoldKeepsTheSnapshotTheLogStartsFrom(t *testing.T) {
	dir, server, host := restartableNATS(t)
	old := openReplica(t, dir+"/old")
	old.serve(server.ClientURL(), 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	node := retiredReplica(t, dir+"/node", old, 2)                   // Log from op 3, snapshot at op 2.
	server.Shutdown()

	machine, _, err := shard.Recover(testMachine, node.log, node.snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan shard.SnapshotResult, 1)
	s, err := shard.New(shard.Config{Epoch: 1, Snapshots: &shard.SnapshotConfig{
		Dir: node.snapshotDir, Keep: 1, RetireLog: true,
		OnWritten: func(r shard.SnapshotResult) { written <- r }}}, machine, node.log)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: server.ClientURL(), Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: testMachine, Released: s.Released, Epoch: s.Epoch})
	s.AddConsumer(c, c)
	c.Start()
	defer c.Close()
	replier := &nullReplier{}
	s.Start(shard.RepliesOnly(replier))
	defer s.Close()

	body := make([]byte, model.AccountSize)
	(&model.Account{ID: model.U128(5), Ledger: 1, Code: 1}).Encode(body)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 3, Number: 1,
		Operation: model.OperationCreateAccounts, Body: body}); status != model.StatusOK {
		t.Fatal(status)
	}
	waitUntil(t, "op 4 released", func() bool { return s.Released() >= 4 },
		func() any { return s.Stats() })
	s.RequestSnapshot() // Op 5.
	awaitSnapshotWritten(t, written)

	natstest.Start(t, dir+"/nats", host) // NATS is back.
	waitUntil(t, "capture idle at op 5", func() bool {
		return c.Stats().Connected && c.ConsumerStats().HandledOp >= 5
	}, func() any { return c.Stats() })
	messages := streamMessages(t, server.ClientURL())
	if ids := accountsCreated(messages); !slices.Equal(ids, []string{"1", "2", "3", "4", "5"}) ||
		c.Stats().Gaps != 0 {
		snapshots, _ := wal.ListSnapshots(node.snapshotDir)
		t.Fatalf("accounts %v, stats %+v; want account 5 after the others, no capture_gap "+
			"(log from op %d, snapshots %v)", ids, c.Stats(), node.log.FirstOp(), snapshots)
	}
}

// TestDeposedPrimaryKeepsItsLagClock: the open edge the last review left ("a deposed
// primary's lag clock"), checked while writing the walk's deposed-primary steps. A deposed primary that still believes it serves
// (epoch 1; the stream's last message is of epoch 2, at its own released op or beyond)
// publishes nothing, and the events it released are not in the stream: its lag must go
// on growing from the last time it was caught up (an hour ago here), so that /healthz
// reports capture_lagging. Every session read the stream's last message and, since its
// op reached the released op, reset the clock to now: LagSeconds stayed within the retry
// interval (at most 5 s) and capture_lagging never fired.
func TestDeposedPrimaryKeepsItsLagClock(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve(url, 2, []uint64{5, 6}, []uint64{7, 8}) // Its ops 3 and 4, epoch 2.

	deposed := New(Config{URL: url, Log: old.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 1 }})
	deposed.caughtUpAt.Store(time.Now().Add(-time.Hour).UnixNano())
	deposed.Start()
	defer deposed.Close()
	waitUntil(t, "the deposed capture seeing the newer epoch", func() bool {
		text := deposed.lastError.Load()
		return text != nil && strings.Contains(*text, "newer epoch")
	}, func() any { return deposed.Stats() })
	if stats := deposed.Stats(); stats.LagOps == 0 || stats.LagSeconds < 3000 || !stats.Lagging {
		t.Fatalf("deposed, its op 3 not in the stream: %+v; want the lag counted from an hour "+
			"ago, lagging", stats)
	}
}

// TestForeignMessageMidPipelineForksNothing: found by TestCaptureWalk (seed 514, 30
// steps): a deposed primary, cut off from its standby but not from NATS, published two
// events just after the new primary's capture read the stream's position; the new
// primary's pipelined events each expected the stream's sequence before it, so its first
// two failed and the third, expecting exactly the sequence the stranger's two had moved
// the stream to, was stored, followed by the rest: the stream held the new primary's op
// 48 event 2 right after the deposed primary's events, its op 46 to 48 events 0-1
// never, and the next session, finding its own event last, resumed after it. Here the
// stranger's one event lands between the session's check and its catch-up of ops 2 and
// 3 (accounts 1 to 4, two events each): the first event must fail and every later one
// with it, so that the next session voids the stranger's event and publishes all four
// accounts. Before, the stream held accounts 2, 3 and 4 after the stranger's event and
// never account 1.
func TestForeignMessageMidPipelineForksNothing(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 2, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3; epoch 2.
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 }})
	// A session's start, as session runs it: the stream is empty.
	startSessionByHand(t, c)

	// The stranger (epoch 1) publishes its op 2's first event now.
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: "sequent.0.stranger",
		Data: []byte(`{"id":"0:2:0:1","op":2,"kind":"stranger"}`)},
		jetstream.WithMsgID("0:2:0:1"), jetstream.WithExpectLastSequence(0)); err != nil {
		t.Fatal(err)
	}
	if err := c.rebuild(); err == nil {
		t.Fatal("the catch-up over the stranger's event succeeded")
	}
	c.disconnect()

	c.Start() // The next sessions.
	defer c.Close()
	waitUntil(t, "capture idle at op 3", func() bool { return c.ConsumerStats().HandledOp >= 3 },
		func() any { return c.Stats() })
	messages := streamMessages(t, url)
	if ids := accountsCreated(messages); !slices.Equal(ids, []string{"1", "2", "3", "4"}) {
		t.Fatalf("accounts %v, want 1 to 4 after the stranger's event (voided): %+v", ids, messages)
	}
}
