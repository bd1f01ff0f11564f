package capture

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// snapshotThrough writes into dir a snapshot of the state right after op, replayed from
// the replica's log, as the shard would have written it there.
func (r *replica) snapshotThrough(dir string, op uint64) {
	r.t.Helper()
	r.snapshotThroughEpoch(dir, op, 1)
}

// snapshotThroughEpoch is snapshotThrough naming epoch in the snapshot's Meta.
func (r *replica) snapshotThroughEpoch(dir string, op, epoch uint64) {
	r.t.Helper()
	machine := core.New(testMachine)
	var output core.Output
	stop := errors.New("through")
	err := r.log.Read(0, func(e *wal.Entry) error {
		if e.FirstOp > op {
			return stop
		}
		output.Reset()
		return machine.Apply(&core.Entry{FirstOp: e.FirstOp, Timestamp: e.Timestamp,
			Body: e.Body}, &output)
	})
	if err != nil && !errors.Is(err, stop) {
		r.t.Fatal(err)
	}
	view := machine.Snapshot()
	defer view.Release()
	chain, _ := r.log.ChainAt(op)
	if _, err := wal.WriteSnapshot(dir, wal.SnapshotMeta{Op: op, Epoch: epoch,
		Digest: view.Digest(), Chain: chain}, view); err != nil {
		r.t.Fatal(err)
	}
}

// retiredReplica returns a replica whose log starts after op (its older segments
// retired, as a node restored from a snapshot at op holds it) with source's entries
// after op, and snapshotDir holding source's snapshot at op.
func retiredReplica(t *testing.T, dir string, source *replica, op uint64) *replica {
	t.Helper()
	r := openReplica(t, dir+"/log")
	r.snapshotDir = dir + "/snapshots"
	source.snapshotThrough(r.snapshotDir, op)
	chain, _ := source.log.ChainAt(op)
	if err := r.log.StartAfter(op, chain); err != nil {
		t.Fatal(err)
	}
	r.copyRange(source, op, source.log.LastOp())
	if first := r.log.FirstOp(); source.log.LastOp() > op && first != op+1 {
		t.Fatalf("the retired log starts at op %d, want %d", first, op+1)
	}
	return r
}

// TestGapWhenTheLogWasRetired: capture starts over an empty stream while the log's
// first ops are gone (retired after a snapshot at op 2). It publishes capture_gap naming
// ops 1–2, restores the snapshot (skipping a damaged one) and publishes op 3's and the
// new op 4's events. A restart then finds the gap marker as the stream's last message:
// the snapshot at the marker's op is usable (the whole op is in the stream), so no
// second gap is published (a second one would carry the first one's id: JetStream drops
// it as a duplicate and capture would retry that for good), and op 5's events follow.
func TestGapWhenTheLogWasRetired(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3; no capture.
	retired := retiredReplica(t, dir+"/retired", old, 2)
	// A damaged snapshot older than the good one: listed with Err, skipped.
	if err := os.WriteFile(filepath.Join(retired.snapshotDir,
		"snapshot-00000000000000000001.snap"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := retired.serve(url, 2, []uint64{5, 6}) // Op 4.
	messages := streamMessages(t, url)
	if stats.Gaps != 1 || stats.LastError != "" || len(messages) != 5 ||
		messages[0].Kind != "capture_gap" || messages[0].ID != "0:2:gap:1" ||
		messages[0].Op != 2 || messages[0].FromOp != 1 || messages[0].ToOp != 2 {
		t.Fatalf("stats %+v; messages %+v: want capture_gap for ops 1-2, then ops 3 and 4",
			stats, messages)
	}
	if got, want := accountsCreated(messages), []string{"3", "4", "5", "6"}; !slices.Equal(got, want) {
		t.Fatalf("accounts %v, want %v", got, want)
	}

	// The restart: op 5 (accounts 7, 8) follows, from the snapshot at op 2 again.
	stats = retired.serve(url, 3, []uint64{7, 8})
	again := streamMessages(t, url)
	if stats.Gaps != 0 || stats.LastError != "" ||
		!slices.Equal(accountsCreated(again), []string{"3", "4", "5", "6", "7", "8"}) ||
		len(again) != 7 {
		t.Fatalf("after the restart: stats %+v; messages %+v", stats, again)
	}
}

// TestGapMarkerIsTheLastMessage: the log's first ops are retired and the ops after the
// snapshot have no events (a refused create_accounts), so the capture_gap marker is the
// stream's last message when the capture restarts: the snapshot at the marker's own op
// must be used (restoring from an older one is impossible, there is none, and
// publishing the gap again is dropped as a duplicate for good).
func TestGapMarkerIsTheLastMessage(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{1}) // Op 3 refused (exists): no event.
	retired := retiredReplica(t, dir+"/retired", old, 2)
	if stats := retired.serve(url, 2); stats.Gaps != 1 || stats.StreamSequence != 1 ||
		stats.PublishedOp != 2 || stats.LastError != "" {
		t.Fatalf("stats %+v: want the gap marker alone", stats)
	}
	stats := retired.serve(url, 3, []uint64{5, 6}) // Op 4.
	messages := streamMessages(t, url)
	if stats.Gaps != 0 || stats.LastError != "" || len(messages) != 3 ||
		messages[0].Kind != "capture_gap" ||
		!slices.Equal(accountsCreated(messages), []string{"5", "6"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestRestoreFailures: capture cannot rebuild when the log's first ops are retired and
// no snapshot can replace them; it reports why (Stats.LastError, which /healthz and
// the status page show) and publishes nothing: no snapshot at all, and a snapshot
// directory that cannot be read. (A snapshot whose body is damaged was a third case:
// it cannot be read ever again, so failing every session was capture stuck for good;
// it is now a capture_gap up to the live queue, TestDamagedSnapshotOverALeftover.)
func TestRestoreFailures(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve("", 1, []uint64{1, 2}, []uint64{3, 4})
	retired := retiredReplica(t, dir+"/retired", old, 2)
	notADirectory := filepath.Join(dir, "file")
	if err := os.WriteFile(notADirectory, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		name, snapshotDir, want string
	}{
		{"no snapshot", dir + "/none", "the log starts at op 3 and no snapshot is usable"},
		{"unreadable directory", notADirectory, "not a directory"},
	} {
		c := New(Config{URL: url, Log: retired.log, SnapshotDir: test.snapshotDir,
			Machine: testMachine, Released: func() uint64 { return 3 }})
		if stats := runUntilError(t, c, test.name); !strings.Contains(stats.LastError, test.want) ||
			stats.StreamSequence != 0 || stats.Gaps != 0 {
			t.Fatalf("%s: stats %+v, want error %q and nothing published", test.name, stats,
				test.want)
		}
	}
}

// TestPromotedOntoASnapshot: a standby bootstrapped from a snapshot at op 3 (its log
// starts after it) is promoted while the stream holds every event through op 3: capture
// must publish the new primary's events after them, and announce no gap (nothing was
// lost).
func TestPromotedOntoASnapshot(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := retiredReplica(t, dir+"/promoted", old, 3)
	stats := promoted.serve(url, 2, []uint64{5, 6})
	messages := streamMessages(t, url)
	if stats.Gaps != 0 || stats.LastError != "" || len(messages) != 6 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestPromotedOntoASnapshotBeforeAnyEntry: as TestPromotedOntoASnapshot, but the
// promoted node's capture rebuilds before the node writes anything, so its log holds no
// entry yet (FirstOp 0, continuing after the snapshot's op). The rebuild must start from
// the snapshot: it used to take the empty log for one starting at op 1, replay nothing
// into an empty machine, and never reach the live queue (op 4 joined it), so nothing
// more was ever published.
func TestPromotedOntoASnapshotBeforeAnyEntry(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := retiredReplica(t, dir+"/promoted", old, 3)
	machine, _, err := shard.Recover(testMachine, promoted.log, promoted.snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shard.New(shard.Config{Epoch: 2}, machine, promoted.log)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Log: promoted.log, SnapshotDir: promoted.snapshotDir,
		Machine: testMachine, Released: s.Released, Epoch: s.Epoch})
	s.AddConsumer(c, c)
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for c.Stats().Rebuilds == 0 || c.handledOp.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the rebuild never restored the snapshot at op 3: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	replier := &nullReplier{}
	s.Start(shard.RepliesOnly(replier))
	defer s.Close()
	body := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: model.U128(5), Ledger: 1, Code: 1}).Encode(body)
	(&model.Account{ID: model.U128(6), Ledger: 1, Code: 1}).Encode(body[model.AccountSize:])
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: body}); status != model.StatusOK {
		t.Fatal(status)
	}
	for c.Stats().StreamSequence < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("op 4 never published: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	messages := streamMessages(t, url)
	if stats := c.Stats(); stats.Gaps != 0 || len(messages) != 6 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// runUntilError starts c, waits until it reports an error (Stats.LastError), closes it
// and returns its stats.
func runUntilError(t *testing.T, c *Capture, name string) Stats {
	t.Helper()
	c.Start()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for c.Stats().LastError == "" {
		if time.Now().After(deadline) {
			c.Close()
			t.Fatalf("%s: no error reported: %+v", name, c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	return c.Stats()
}
