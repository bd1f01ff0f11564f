package capture

import (
	"io/fs"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sequent/core"
	"sequent/tools/natstest"
	"sequent/wal"
)

// Suspicions the reviews of session 28 left without a failing test, each tried here
// with a deterministic test (kept whether it failed or showed the suspicion unfounded).

// TestPromotedStandbyStartsItsLagClockFromItsLastPoll: a standby watched the stream for
// an hour; the stream's last event is at op 3 and the shard's released op is 4, an entry
// without events (a refused request here; pulses, set_grants and snapshot markers are
// the usual ones), so the position it checks never reaches the released op. At its
// promotion, before its session notices it and settles, Stats counts the lag from the
// capture's lag clock: the standby reported no lag all along (it only watches), so the
// clock must say it was current at its last poll. It said an hour: the position never
// reached the released op, so nothing had moved the clock since the capture started,
// and /healthz reported capture_lagging (and sequent_capture_lag_seconds an hour) until
// the new primary's first catch-up finished.
func TestPromotedStandbyStartsItsLagClockFromItsLastPoll(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	node := openReplica(t, dir+"/node")
	// Ops 1 (grants), 2 (accounts 1, 2), 3 (3, 4) and 4 (account 1 again: refused).
	node.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{1})
	var promoted atomic.Bool
	c := New(Config{URL: url, Log: node.log, Machine: core.Config{},
		Released: func() uint64 { return 4 }, Epoch: func() uint64 { return 1 },
		Serving: promoted.Load})
	c.caughtUpAt.Store(time.Now().Add(-time.Hour).UnixNano()) // Started an hour ago.
	c.Start()
	waitUntil(t, "the standby checking the stream's position (op 3)", func() bool {
		op, _ := c.HeldOp()
		return op == 2
	}, func() any { return c.Stats() })
	c.Close() // The publisher stops where it is: promoted, not noticed yet.
	promoted.Store(true)
	if stats := c.Stats(); stats.LagOps != 2 || stats.LagSeconds >= 3000 {
		t.Fatalf("promoted after an hour of watching, last poll just now: %+v; want the "+
			"lag counted from the last poll, not from an hour ago", stats)
	}
}

// failSnapshotReads makes the header read of the snapshot at op fail in capture's
// listings (as os.Open does when the process is out of file descriptors) for the next
// times listings, and returns how many listings saw it fail so far.
func failSnapshotReads(t *testing.T, op uint64, times int) *atomic.Int64 {
	t.Helper()
	failed := &atomic.Int64{}
	t.Cleanup(func() { listSnapshots = wal.ListSnapshots })
	listSnapshots = func(dir string) ([]wal.SnapshotInfo, error) {
		snapshots, err := wal.ListSnapshots(dir)
		for i := range snapshots {
			info := &snapshots[i]
			if info.Meta.Op == op && failed.Load() < int64(times) {
				failed.Add(1)
				info.Err = &fs.PathError{Op: "open", Path: info.Path, Err: syscall.EMFILE}
				info.Problem = info.Err.Error()
			}
		}
		return snapshots, err
	}
	return failed
}

// TestUnreadableSnapshotStaysHeld: a node's log starts after its snapshot at op 2 (ops
// 3 and 4 follow), a newer snapshot is at op 4, and capture has not checked the stream
// yet, so it holds all of its log: that is, the snapshot the log continues from (op 2)
// and the log after it. The header of the snapshot at op 2 fails to read once, when the
// shard asks for the hold (out of file descriptors: it reads again a moment later). The
// hold must still name op 2, so that the shard's prune, keeping one snapshot, leaves it:
// it named op 4, the prune deleted the snapshot at op 2 (valid when the prune read it)
// and capture could no longer rebuild ops 3 and 4 from the log that still held them.
func TestUnreadableSnapshotStaysHeld(t *testing.T) {
	dir := t.TempDir()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5}) // Ops 1 (grants) to 4.
	node := retiredReplica(t, dir+"/node", old, 2)                // Log from op 3.
	old.snapshotThrough(node.snapshotDir, 4)
	c := New(Config{Log: node.log, SnapshotDir: node.snapshotDir, Machine: core.Config{},
		Released: func() uint64 { return 4 }})
	failed := failSnapshotReads(t, 2, 1)
	held, _ := c.HeldOp()
	if failed.Load() != 1 {
		t.Fatalf("the snapshot at op 2 was read %d times through the fault", failed.Load())
	}
	if err := wal.PruneSnapshotsHolding(node.snapshotDir, 1, held); err != nil {
		t.Fatal(err)
	}
	snapshots, err := wal.ListSnapshots(node.snapshotDir)
	if err != nil {
		t.Fatal(err)
	}
	if held != 2 || len(snapshots) != 2 || snapshots[1].Meta.Op != 2 {
		t.Fatalf("holding op %d; snapshots left after the prune: %+v; want the one at op 2 "+
			"held and kept", held, snapshots)
	}
}

// TestUnreadableSnapshotPublishesNoGap: the stream holds ops 2 and 3 (accounts 1 to
// 4); a node whose log starts after its snapshot at op 2 holds op 4 (account 5) and a
// newer snapshot at op 4, and is promoted. Its capture resumes after op 3 and needs the
// snapshot at op 2, whose header fails to read at the first attempt (out of file
// descriptors). A capture_gap is for good, so capture must not publish one for ops it can
// rebuild a moment later: it tries again and publishes account 5. It published
// capture_gap for op 4 from the newer snapshot instead, and account 5 never.
func TestUnreadableSnapshotPublishesNoGap(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3 in the stream.
	old.serve("", 2, []uint64{5})                     // Op 4 (epoch 2), not published.
	node := retiredReplica(t, dir+"/node", old, 2)    // Log from op 3.
	old.snapshotThrough(node.snapshotDir, 4)
	failed := failSnapshotReads(t, 2, 1)
	c := New(Config{URL: url, Log: node.log, SnapshotDir: node.snapshotDir,
		Machine: core.Config{}, Released: func() uint64 { return 4 },
		Epoch: func() uint64 { return 2 }})
	c.Start()
	defer c.Close()
	waitUntil(t, "capture handling op 4", func() bool {
		return c.ConsumerStats().HandledOp >= 4 || c.Stats().Gaps > 0
	}, func() any { return c.Stats() })
	c.Close()
	ids := accountsCreated(streamMessages(t, url))
	if stats := c.Stats(); stats.Gaps != 0 || failed.Load() == 0 ||
		!slices.Equal(ids, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("stats %+v, accounts %v, the snapshot at op 2 failed to read %d times; "+
			"want no capture_gap and account 5 after the others", stats, ids, failed.Load())
	}
}
