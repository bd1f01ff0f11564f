package capture

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	c := New(Config{URL: url, Log: node.log, Machine: testMachine,
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
	c := New(Config{Log: node.log, SnapshotDir: node.snapshotDir, Machine: testMachine,
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
		Machine: testMachine, Released: func() uint64 { return 4 },
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

// TestDivergenceWalkOverManyRemovals: the stream holds the old primary's ops 2 and 3
// (epoch 1, accounts 1 to 4), then 1000 messages an operator's tool wrote and purged
// again by subject, then the old primary's op 4 (one event, written here by hand): a
// history the promoted node (epoch 2, ops 1 and 2 shared, its own op 3) voids. Walking
// back to its op 2 must cost JetStream a bounded number of requests, not one or two per
// removed message: the walk asked for every removed sequence (over 2000 requests here),
// all at the start of the promoted primary's first session, which published nothing
// meanwhile.
func TestDivergenceWalkOverManyRemovals(t *testing.T) {
	const removed = 1000
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve("", 2, []uint64{5, 6}) // Its own op 3, not published yet.

	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	for range removed {
		if _, err := js.Publish(ctx, SubjectPrefixDefault+".0.filler", nil); err != nil {
			t.Fatal(err)
		}
	}
	onStream(t, url, func(s jetstream.Stream) error {
		return s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefixDefault+".0.filler"))
	})
	const voidedID = "0:4:0:1" // The old primary's op 4, event 0, epoch 1.
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: SubjectPrefixDefault + ".0.test",
		Data: []byte(`{"id":"` + voidedID + `","kind":"test"}`)},
		jetstream.WithMsgID(voidedID)); err != nil {
		t.Fatal(err)
	}
	// Every JetStream API request, as a subscriber of the account sees it (the server's
	// API counter leaves out message gets that find their message). A flush after the
	// settling puts every request made until then in the subscription's queue.
	monitor, err := js.Conn().SubscribeSync("$JS.API.>")
	if err != nil {
		t.Fatal(err)
	}
	defer monitor.Unsubscribe()
	if err := js.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Log: promoted.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 }})
	c.Start()
	defer c.Close()
	stats := awaitStats(t, c, func(s Stats) bool { return s.Superseded > 0 })
	if err := js.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	used, _, err := monitor.Pending()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d JetStream requests to read the position and settle", used)
	waitUntil(t, "capture handling op 3", func() bool {
		return c.ConsumerStats().HandledOp >= 3 || c.Stats().LastError != ""
	}, func() any { return c.Stats() })
	c.Close()
	ids := accountsCreated(streamMessages(t, url))
	if stats.LastError != "" || used > 100 ||
		!slices.Equal(ids, []string{"1", "2", "3", "4", "5", "6"}) {
		t.Fatalf("%d JetStream requests to settle; stats %+v; accounts %v", used, stats, ids)
	}
}

var messageBeforeSeed = flag.Uint64("message-before-seed", 1,
	"seed of TestMessageBeforeAcrossRemovals' removals (0: from the clock)")

// TestMessageBeforeAcrossRemovals holds the divergence walk's step back (messageBefore)
// against the obvious answer, the newest message held before each sequence, on a stream
// of 200 messages from which a seeded random set was removed, in runs and alone (the
// first and last included, sometimes). -message-before-seed replays a failure.
func TestMessageBeforeAcrossRemovals(t *testing.T) {
	const count = 200
	seed := *messageBeforeSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	random := rand.New(rand.NewPCG(seed, 0))
	url := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0").ClientURL()
	c := New(Config{URL: url})
	if err := c.connect(); err != nil { // Creates the stream, as a session does.
		t.Fatal(err)
	}
	defer c.disconnect()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	ctx := context.Background()
	for op := 1; op <= count; op++ { // Message op names op (sequence op).
		id := fmt.Sprintf("0:%d:0:1", op)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: SubjectPrefixDefault + ".0.test"},
			jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	held := make([]bool, count+1)
	for sequence := 1; sequence <= count; {
		run := 1 + random.IntN(12)
		remove := random.IntN(2) == 0
		for ; run > 0 && sequence <= count; run, sequence = run-1, sequence+1 {
			held[sequence] = !remove
		}
	}
	onStream(t, url, func(s jetstream.Stream) error {
		for sequence := 1; sequence <= count; sequence++ {
			if !held[sequence] {
				if err := s.DeleteMsg(ctx, uint64(sequence)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	stream, err := c.streamHandle()
	if err != nil {
		t.Fatal(err)
	}
	first := stream.CachedInfo().State.FirstSeq
	for before := uint64(1); before <= count+1; before++ {
		want := uint64(0)
		for sequence := before - 1; sequence >= 1; sequence-- {
			if held[sequence] {
				want = sequence
				break
			}
		}
		name, sequence, found, err := c.messageBefore(before, first)
		if err != nil || found != (want != 0) || sequence != want || name.at.op != want {
			t.Fatalf("seed %d: before %d: message %d (op %d, found %v, %v); want %d",
				seed, before, sequence, name.at.op, found, err, want)
		}
	}
}

// TestFailoverOntoARemovedGapMarker: the old primary (epoch 1) found its stream purged
// and published capture_gap 0:3:gap through its released op 3 (message 5), then op 4's
// events (accounts 5, 6; messages 6, 7); the stream was purged again within the
// duplicate window, and an async failover promoted a node that had received ops 1 to 3
// only (epoch 2). Its session finds the stream's last message removed and, nothing
// newer being released, publishes capture_gap through op 3: the old primary's marker's
// id, which JetStream answers as a duplicate of message 5, not of the stream's last
// message (7). The stream already says that everything through op 3 is settled, as the
// marker would: capture must resume after op 3 and publish its own op 4 (account 7).
// Every session failed instead ('duplicate true'), for as long as the duplicate window
// lasts (two minutes by default, whatever an operator set on a stream of their own).
func TestFailoverOntoARemovedGapMarker(t *testing.T) {
	lost := newLostStream(t)
	url, config, released := lost.url, lost.config, lost.released
	purge := func(s jetstream.Stream) error { return s.Purge(context.Background()) }
	if stats := lost.run(t, 4); stats.LastError != "" {
		t.Fatalf("first run: %+v", stats)
	}
	onStream(t, url, purge)
	old := New(config)
	old.Start()
	stats := awaitGap(t, old, 5) // The marker through op 3.
	released.Store(4)            // Op 4's events follow: messages 6 and 7.
	if stats.Gaps == 1 {
		stats = awaitSequence(t, old, 7)
	}
	old.Close()
	if stats.LastError != "" || stats.Gaps != 1 || stats.PublishedOp != 4 {
		t.Fatalf("after the first purge: %+v", stats)
	}
	onStream(t, url, purge)

	promoted := openReplica(t, t.TempDir())
	promoted.copyFrom(&replica{t: t, log: config.Log}, 3)
	promoted.serve("", 2, []uint64{7}) // Its own op 4 (epoch 2), after the promotion.
	var promotedReleased atomic.Uint64
	promotedReleased.Store(3)
	// Its capture started before it wrote op 4 (RecoveredOp 3): nothing to wait for.
	c := New(Config{URL: url, Log: promoted.log, Machine: testMachine,
		Released: promotedReleased.Load, RecoveredOp: 3, Epoch: func() uint64 { return 2 }})
	c.Start()
	defer c.Close()
	awaitStats(t, c, func(s Stats) bool { return s.Connected && s.LagOps == 0 })
	promotedReleased.Store(4)
	stats = awaitSequence(t, c, 8)
	messages := streamMessages(t, url)
	if stats.LastError != "" || stats.PublishedOp != 4 ||
		!slices.Equal(accountsCreated(messages), []string{"7"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestLostSupersededMarker: the promoted node (epoch 2; ops 1 and 2 shared, nothing of
// its own released yet) voided the old primary's op 3 with capture_superseded (message
// 5), and the stream lost that marker (deleted, or expired) within the duplicate window.
// Its next session finds the old primary's op 3 again as the newest message left, voids
// it again and publishes the same marker, which JetStream answers as a duplicate of
// message 5, the stream's lost last message: the position is after op 2, as that marker
// said (nothing came after it, so no capture_gap), and the node's op 3 (account 7)
// follows. Every session failed instead ('duplicate true')
// for as long as the duplicate window lasts.
func TestLostSupersededMarker(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve("", 2, []uint64{7}) // Its own op 3, released later.
	var released atomic.Uint64
	released.Store(2)
	config := Config{URL: url, Log: promoted.log, Machine: testMachine,
		Released: released.Load, Epoch: func() uint64 { return 2 }}
	first := New(config)
	first.Start()
	stats := awaitSequence(t, first, 5)
	first.Close()
	if stats.LastError != "" || stats.Superseded != 1 {
		t.Fatalf("first session: %+v", stats)
	}
	onStream(t, url, func(s jetstream.Stream) error {
		return s.DeleteMsg(context.Background(), 5)
	})
	second := New(config)
	second.Start()
	defer second.Close()
	awaitStats(t, second, func(s Stats) bool { return s.Connected && s.LagOps == 0 })
	released.Store(3)
	stats = awaitStats(t, second, func(s Stats) bool { return s.PublishedOp == 3 })
	messages := streamMessages(t, url)
	if stats.LastError != "" || !slices.Equal(accountsCreated(messages),
		[]string{"1", "2", "3", "4", "7"}) {
		t.Fatalf("stats %+v; messages %+v", stats, messages)
	}
}

// TestPositionReadFromTheStreamLeader: an operator made the shard's stream with direct
// gets allowed, and a mirror of it (a backup, another site): the mirror of such a stream
// answers direct gets for it too, from what it holds, and one trailing the stream lacks
// its newest messages (as does a replica: direct gets are answered by any of them). The
// mirror here lacks message 4 (op 3's second event, the stream's last). The JetStream
// client reads a stream's messages with direct gets whenever the stream allows them, so
// about one read in two of the last message was answered "not found" by the mirror, and
// capture took the stream for one that lost its last message: a false capture_gap
// through the released op, skipping the events released after the real last one.
// Capture's reads of the position must go to the stream itself: twenty reads here all
// find message 4.
func TestPositionReadFromTheStreamLeader(t *testing.T) {
	lost := newLostStream(t)
	js, closeConnection := operatorJetStream(t, lost.url)
	defer closeConnection()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamDefault + "_0",
		Subjects: []string{SubjectPrefixDefault + ".0.>"}, Storage: jetstream.FileStorage,
		AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	if stats := lost.run(t, 4); stats.LastError != "" || stats.PublishedOp != 3 {
		t.Fatalf("first run: %+v", stats)
	}
	mirror, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BACKUP",
		Storage: jetstream.FileStorage, Mirror: &jetstream.StreamSource{Name: StreamDefault + "_0"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the mirror holding message 4", func() bool {
		info, err := mirror.Info(ctx)
		return err == nil && info.State.LastSeq == 4
	}, func() any { return nil })
	if err := mirror.DeleteMsg(ctx, 4); err != nil { // It trails the stream by one.
		t.Fatal(err)
	}
	// Both answer direct gets of the stream: a stray read of message 4 finds it missing.
	waitUntil(t, "the mirror answering direct gets", func() bool {
		reply, err := js.Conn().Request("$JS.API.DIRECT.GET."+StreamDefault+"_0",
			[]byte(`{"seq":4}`), time.Minute)
		return err == nil && reply.Header.Get("Status") == "404"
	}, func() any { return nil })
	c := New(lost.config)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	defer c.disconnect()
	for read := range 20 {
		if err := c.readPosition(); err != nil || c.lastRemoved || c.at.op != 3 ||
			c.streamSequence.Load() != 4 {
			t.Fatalf("read %d: %v; last message removed %v, position %+v at sequence %d",
				read, err, c.lastRemoved, c.at, c.streamSequence.Load())
		}
	}
}
