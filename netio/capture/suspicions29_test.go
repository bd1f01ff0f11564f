package capture

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// Suspicions the closing note of session 29 left, each with a deterministic test.

// snapshotFile returns the path of the snapshot at op in dir (as wal names it).
func snapshotFile(dir string, op uint64) string {
	return filepath.Join(dir, fmt.Sprintf("snapshot-%020d.snap", op))
}

// damageSnapshot damages the snapshot at op in dir: its header (the listing sees it
// damaged) or only its body's last byte (the header reads; the load fails).
func damageSnapshot(t *testing.T, dir string, op uint64, header bool) {
	t.Helper()
	path := snapshotFile(dir, op)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if header {
		body = []byte("damaged")
	} else {
		body[len(body)-1] ^= 0xff
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedSnapshotOverALeftover: the stream holds ops 1 (grants) and 2 (accounts 1,
// 2); the node was rebuilt from a snapshot at op 3 (its log starts at op 4: accounts 5,
// 6), and its data directory still holds a snapshot at op 2 from its earlier life,
// which the log does not continue (op 3 is in neither). After the shard recovered, the
// snapshot at op 3 was damaged (its header, or only its body). Capture can rebuild
// nothing before the live queue: ops 3 and 4 are lost, and it must say so with one
// capture_gap (ops 3-4) and go on publishing the node's next op (5: accounts 7, 8). It
// restored the snapshot at op 2 instead, whose log is gone, and every session failed
// for good with "op retired from the log".
func TestDamagedSnapshotOverALeftover(t *testing.T) {
	for _, header := range []bool{true, false} {
		name := map[bool]string{true: "header", false: "body"}[header]
		t.Run(name, func(t *testing.T) {
			url, node := leftoverLayout(t)
			machine, _, err := shard.Recover(core.Config{}, node.log, node.snapshotDir, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			damageSnapshot(t, node.snapshotDir, 3, header)
			s, err := shard.New(shard.Config{Epoch: 2}, machine, node.log)
			if err != nil {
				t.Fatal(err)
			}
			c := New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
				Machine: core.Config{}, Released: s.Released, Epoch: s.Epoch})
			s.AddConsumer(c, c)
			s.Start(shard.RepliesOnly(&nullReplier{}))
			defer s.Close()
			waitUntil(t, "the shard releasing what it recovered (op 4)", func() bool {
				return s.Released() == 4
			}, func() any { return s.Released() })
			c.Start()
			defer c.Close()
			// Op 5 once capture has settled ops 3 and 4 (or failed): released before, its
			// events could not be rebuilt either.
			if stats := awaitStats(t, c, func(s Stats) bool { return s.Gaps > 0 }); stats.LastError != "" {
				t.Fatalf("capture failed: %+v", stats)
			}
			body := make([]byte, 2*model.AccountSize)
			(&model.Account{ID: model.U128(7), Ledger: 1, Code: 1}).Encode(body)
			(&model.Account{ID: model.U128(8), Ledger: 1, Code: 1}).Encode(body[model.AccountSize:])
			if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2,
				Number: 1, Operation: model.OperationCreateAccounts,
				Body: body}); status != model.StatusOK {
				t.Fatal(status)
			}
			// Both of op 5's events stored: PublishedOp is 5 from its first on.
			stats := awaitStats(t, c, func(s Stats) bool {
				return s.PublishedOp > 5 || s.PublishedOp == 5 && s.PublishedIndex >= 1
			})
			c.Close()
			messages := streamMessages(t, url)
			gaps := gapMarkers(messages)
			if stats.LastError != "" || stats.Gaps != 1 || len(gaps) != 1 ||
				gaps[0].FromOp != 3 || gaps[0].ToOp != 4 ||
				!slices.Equal(accountsCreated(messages), []string{"1", "2", "7", "8"}) {
				t.Fatalf("stats %+v; messages %+v: want capture_gap for ops 3-4, then op 5",
					stats, messages)
			}
		})
	}
}

// TestHoldSkipsALeftoverSnapshot: the node was rebuilt from a snapshot at op 3 (its log
// starts at op 4) over a leftover at op 2, the one at op 3 was damaged since, and the
// shard wrote snapshots at ops 5 and 7. The stream's position is a capture_gap through
// op 5 (capture skipped what it could not rebuild): a rebuild resumes from the snapshot
// at op 5, the only one at or before the position that the log continues. The hold
// must keep it through the shard's prune (keeping one snapshot): it named op 4, the
// prune kept the newest valid snapshot at or before it, the leftover at op 2, and
// deleted the one at op 5, after which a rebuild can only publish a false capture_gap
// for ops 6 and 7, which the log holds.
func TestHoldSkipsALeftoverSnapshot(t *testing.T) {
	dir := t.TempDir()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6}, []uint64{7, 8},
		[]uint64{9, 10}, []uint64{11, 12}) // Ops 1 (grants) to 7.
	node := retiredReplica(t, dir+"/node", old, 3)
	for _, op := range []uint64{2, 5, 7} {
		old.snapshotThrough(node.snapshotDir, op)
	}
	damageSnapshot(t, node.snapshotDir, 3, true)
	c := New(Config{Log: node.log, SnapshotDir: node.snapshotDir, Machine: core.Config{},
		Released: func() uint64 { return 7 }})
	c.setPosition(position{op: 5, index: math.MaxUint32}, 9)
	held, _ := c.HeldOp()
	if err := wal.PruneSnapshotsHolding(node.snapshotDir, 1, held); err != nil {
		t.Fatal(err)
	}
	snapshots, err := wal.ListSnapshots(node.snapshotDir)
	if err != nil {
		t.Fatal(err)
	}
	var ops []uint64
	for _, info := range snapshots {
		ops = append(ops, info.Meta.Op)
	}
	if !slices.Contains(ops, 5) {
		t.Fatalf("holding op %d; snapshots left after the prune at ops %v: want the one at "+
			"op 5 kept", held, ops)
	}
}

// TestDivergedStreamThatLostItsLastMessage: the old primary (epoch 1) published ops 2
// (accounts 1, 2) and 3 (3, 4); the stream lost its last message (account 4: deleted,
// or expired), and an async failover promoted a node that had received ops 1 and 2 only
// and wrote its own op 3 (account 7, epoch 2), released before its capture's session.
// The newest message left (account 3) is of the discarded history: capture voids it
// with capture_superseded and resumes after op 2, so the message the stream lost came
// after a discarded one and was of that history too (a message of this node's history
// after it would have followed a capture_superseded of its own, the same one, which
// JetStream would have answered as a duplicate). Nothing this node can publish is
// missing: account 7 must follow the marker, with no capture_gap. A capture_gap from op
// 2 through the released op followed it instead, and account 7 was never published.
func TestDivergedStreamThatLostItsLastMessage(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Messages 1-4.
	onStream(t, url, func(s jetstream.Stream) error {
		return s.DeleteMsg(context.Background(), 4)
	})
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve("", 2, []uint64{7}) // Its own op 3.
	c := New(Config{URL: url, Log: promoted.log, Machine: core.Config{},
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 }})
	c.Start()
	defer c.Close()
	stats := awaitSequence(t, c, 6) // The marker and one message after it.
	c.Close()
	messages := streamMessages(t, url)
	kinds := make([]string, 0, len(messages))
	for _, m := range messages {
		kinds = append(kinds, m.Kind)
	}
	if stats.LastError != "" || stats.Gaps != 0 || stats.Superseded != 1 ||
		!slices.Contains(kinds, "capture_superseded") ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "7"}) {
		t.Fatalf("stats %+v; kinds %v; messages %+v: want capture_superseded, then account 7",
			stats, kinds, messages)
	}
}

// TestPromotedStandbyCountsItsLagFromItsOldestUnpublishedEvent: a standby watches a
// stream whose last event is at op 3, and released op 4 (account 5), whose entry its
// primary wrote an hour ago, while the primary's capture never published it (NATS was
// slow, or that capture kept failing). Promoted, before its session notices, it has
// events the stream lacks, released an hour ago: Stats must count its lag from then
// (the documented lag: the age of the oldest released event not yet stored), so that
// /healthz reports capture_lagging. It counted from its last poll of the stream, a
// moment ago, and hid the lag until the warning's 10 s had passed. A second standby,
// watching once the stream holds op 4, has nothing unpublished and must report no lag.
func TestPromotedStandbyCountsItsLagFromItsOldestUnpublishedEvent(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	node := openReplica(t, dir+"/node")
	node.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2 and 3.
	op4 := accountsReady(4, 1, time.Now().Add(-time.Hour).UnixNano(), 5)
	promote := func() Stats {
		t.Helper()
		var promoted atomic.Bool
		c := New(Config{URL: url, Log: node.log, Machine: core.Config{},
			Released: func() uint64 { return 4 }, Epoch: func() uint64 { return 2 },
			Serving: promoted.Load})
		c.Consume(op4) // Released on the standby, as the shard does.
		before := c.caughtUpAt.Load()
		c.Start()
		waitUntil(t, "a poll of the stream", func() bool {
			return c.caughtUpAt.Load() != before
		}, func() any { return c.Stats() })
		c.Close() // The publisher stops where it is: promoted, not noticed yet.
		promoted.Store(true)
		return c.Stats()
	}
	if stats := promote(); stats.LagSeconds < 3000 || !stats.Lagging {
		t.Fatalf("promoted with op 4's events (released an hour ago) not in the stream: "+
			"%+v; want the lag counted from op 4's release", stats)
	}
	node.serve(url, 2, []uint64{5}) // Op 4 (account 5), written and published now.
	if stats := promote(); stats.LagSeconds >= 3000 || stats.Lagging {
		t.Fatalf("promoted with every event in the stream: %+v; want no lag", stats)
	}
}

// TestStandbyUnpublishedSpansStayBounded: a standby whose stream stopped (its primary's
// capture down) keeps releasing entries with events, here 5000, 20 ms apart. What it
// keeps of their release times must stay bounded (unpublishedSpansMax spans), and the
// time it reports for a checked position may be early (more lag) but never later than
// the release of the first entry past that position (less lag, hidden): exact while
// every entry has a span of its own, and now once the stream holds them all.
func TestStandbyUnpublishedSpansStayBounded(t *testing.T) {
	wallLagClock(t)
	const entries, apart = 5000, int64(20 * time.Millisecond)
	c := New(Config{Released: func() uint64 { return entries },
		Serving: func() bool { return false }})
	var buffer event.Buffer
	base := time.Now().Add(-time.Hour).UnixNano()
	released := func(op uint64) int64 { return base + int64(op)*apart }
	for op := uint64(1); op <= entries; op++ {
		buffer.Reset()
		buffer.BeginOp(op) // One event per op: its position is op, index 0.
		buffer.AppendAccount(&model.Account{ID: model.U128(op), Ledger: 1, Code: 1}, 7)
		c.Consume(&backend.Ready{FirstOp: op, LastOp: op, Timestamp: uint64(released(op)),
			Events: &buffer})
	}
	if len(c.unpublished) > unpublishedSpansMax {
		t.Fatalf("%d spans kept, want at most %d", len(c.unpublished), unpublishedSpansMax)
	}
	for _, checked := range []uint64{0, 1, 500, unpublishedSpansMax - 1, unpublishedSpansMax,
		3000, entries - 1} {
		c.checkedOp.Store(checked)
		c.watchedAt = position{op: checked} // As watch records a checked position.
		at, want := c.standbyCaughtUpAt(), released(checked+1)
		if at > want || (checked < unpublishedSpansMax && at != want) {
			t.Fatalf("checked op %d: caught up at %d, want %d (the release of op %d)%s",
				checked, at, want, checked+1, map[bool]string{true: " exactly"}[checked <
					unpublishedSpansMax])
		}
	}
	c.checkedOp.Store(entries)
	c.watchedAt = position{op: entries}
	if at := c.standbyCaughtUpAt(); at < released(entries) || len(c.unpublished) != 0 {
		t.Fatalf("every event in the stream: caught up at %d, %d spans left; want now, none",
			at, len(c.unpublished))
	}
}

// leftoverLayout builds a rebuilt node with a leftover snapshot: a stream holding ops 1
// and 2, a node whose log starts at op 4 after a snapshot at op 3 (ops 3 and 4 were
// never published), and an older snapshot at op 2 left in its snapshot directory. It
// returns the stream's URL and the node.
func leftoverLayout(t *testing.T) (string, *replica) {
	t.Helper()
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	_, node := leftoverReplicas(t, dir, url)
	return url, node
}

// leftoverReplicas builds leftoverLayout's old primary and node under dir, the old
// primary publishing to the NATS server at url.
func leftoverReplicas(t *testing.T, dir, url string) (old, node *replica) {
	t.Helper()
	old = openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2})                // Ops 1 and 2, in the stream.
	old.serve("", 1, []uint64{3, 4}, []uint64{5, 6}) // Ops 3 and 4, not published.
	node = retiredReplica(t, dir+"/node", old, 3)    // Snapshot at 3, log from 4.
	old.snapshotThrough(node.snapshotDir, 2)         // The leftover.
	return old, node
}
