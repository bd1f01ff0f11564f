package capture

import (
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// Review of bbbf630 (HandledOp = max(publishedOp-1, handledOp)): the stream's position
// counts only once a primary's session has checked it against its log
// (settleDivergence). Until then it may be another history's (async failover), and
// neither the progress reported (HandledOp, LagOps, /healthz capture_lagging) nor the log
// held for the rebuild (HeldOp) may follow it.

// waitUntil polls done; the bound is a hang guard, not a timing assertion.
func waitUntil(t *testing.T, what string, done func() bool, state func() any) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !done(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened: %+v", what, state())
		}
		time.Sleep(time.Millisecond)
	}
}

// divergedStream serves the old primary (epoch 1) with capture: ops 1 (grants) and 2
// (accounts 1, 2), then op k creates account k, from 3 to last. It returns the stream's
// message count.
func divergedStream(old *replica, url string, last uint64) uint64 {
	batches := [][]uint64{{1, 2}}
	for id := uint64(3); id <= last; id++ {
		batches = append(batches, []uint64{id})
	}
	old.serve(url, 1, batches...)
	return last
}

// TestPromotionDuringAnOutageCountsNoVoidedOp: a standby watched the stream while the
// old primary (async) published ops up to 5; it had received ops 1 and 2 only. It is
// promoted while NATS is unreachable and writes its own op 3 (account 7). Its capture
// cannot connect, so it has published nothing, and the stream's ops 3 to 5 are of a
// history it does not share (the next session will void them with capture_superseded).
// HandledOp must not count op 3, and the lag must show: with HandledOp at 4 (the voided
// position's op - 1) LagOps is 0 and /healthz never reports capture_lagging, however
// long the outage lasts.
func TestPromotionDuringAnOutageCountsNoVoidedOp(t *testing.T) {
	dir, server, host := restartableNATS(t)
	old := openReplica(t, dir+"/old")
	messages := divergedStream(old, server.ClientURL(), 5)
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve("", 2, []uint64{7}) // Its op 3, epoch 2, written without capture here.

	var serving atomic.Bool
	c := New(Config{URL: server.ClientURL(), Log: promoted.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 },
		Serving: serving.Load})
	c.Start()
	defer c.Close()
	waitUntil(t, "the standby reading the stream's position",
		func() bool { return c.Stats().StreamSequence == messages },
		func() any { return c.Stats() })
	server.Shutdown()
	serving.Store(true) // Promoted.
	waitUntil(t, "a failed connection", func() bool {
		text := c.lastError.Load()
		return text != nil && !c.connected.Load()
	}, func() any { return c.Stats() })

	if handled := c.ConsumerStats().HandledOp; handled >= 3 {
		t.Errorf("promoted, nothing published: HandledOp %d counts the node's op 3 "+
			"(account 7), which the stream lacks", handled)
	}
	if stats := c.Stats(); stats.LagOps == 0 {
		t.Errorf("promoted, nothing published: no lag reported: %+v", stats)
	}

	// NATS back on the same address: the capture voids ops 3-5 and publishes account 7.
	natstest.Start(t, dir+"/nats", host)
	waitUntil(t, "op 3 handled", func() bool { return c.ConsumerStats().HandledOp >= 3 },
		func() any { return c.Stats() })
	got := streamMessages(t, server.ClientURL())
	if ids := accountsCreated(got); !slices.Contains(ids, "7") || c.Stats().Superseded != 1 {
		t.Fatalf("after the outage: stats %+v, accounts %v; want account 7 after a "+
			"capture_superseded", c.Stats(), ids)
	}
}

// TestPromotionDuringAnOutageKeepsTheLogOfItsOwnOps: as above, with the old primary's
// stream reaching op 12, and the promoted node's shard taking a snapshot (retiring the
// log it covers) while NATS is still unreachable: its op 3 (account 1007, and a megabyte of
// refused creations), op 4 and op 5 (refused creations: no event), then the snapshot
// request at op 6. (The old history's op 7 created an account 7: the new one is 1007.)
// Capture's hold followed the stream's voided position (HeldOp 11), so
// the shard retired the segment holding op 3 (a snapshot at op 6 <= 11 covers it). When
// NATS returns, the capture must resume after op 2, the last event both histories share,
// and needs the log from there: with op 3 gone it cannot rebuild it (it publishes
// capture_gap for ops 5-6, having taken the retired old ops 3 and 4 for agreeing ones),
// and account 1007 never reaches the stream. While its position is unchecked a primary's capture must hold the log.
func TestPromotionDuringAnOutageKeepsTheLogOfItsOwnOps(t *testing.T) {
	dir, server, host := restartableNATS(t)
	old := openReplica(t, dir+"/old")
	messages := divergedStream(old, server.ClientURL(), 12)
	log, err := wal.Open(wal.Options{Dir: dir + "/promoted", SegmentBytes: wal.SegmentBytesMin,
		Compression: wal.CodecNone})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	promoted := &replica{t: t, log: log, snapshotDir: dir + "/snapshots"}
	promoted.copyFrom(old, 2)

	machine, _, err := shard.Recover(testMachine, log, promoted.snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan shard.SnapshotResult, 4)
	s, err := shard.New(shard.Config{Epoch: 2, Snapshots: &shard.SnapshotConfig{
		Dir: promoted.snapshotDir, Keep: 1, RetireLog: true,
		OnWritten: func(r shard.SnapshotResult) { written <- r }}}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	var serving atomic.Bool
	c := New(Config{URL: server.ClientURL(), Log: log, SnapshotDir: promoted.snapshotDir,
		Machine: testMachine, Released: s.Released, Epoch: s.Epoch, Serving: serving.Load})
	s.AddConsumer(c, c)
	c.Start()
	defer c.Close()
	replier := &nullReplier{}
	s.Start(shard.RepliesOnly(replier))
	defer s.Close()
	waitUntil(t, "the standby reading the stream's position",
		func() bool { return c.Stats().StreamSequence == messages },
		func() any { return c.Stats() })
	server.Shutdown()
	serving.Store(true) // Promoted while NATS is unreachable.

	// Ops 3 to 5: account 1007 once, then creations of the existing account 1 (refused,
	// no event) filling a segment.
	writeAccount1007AndFillers(t, s, replier)
	s.RequestSnapshot() // Op 6.
	awaitSnapshotWritten(t, written)

	natstest.Start(t, dir+"/nats", host) // NATS is back.
	waitUntil(t, "capture settled and idle at the log's end", func() bool {
		return c.Stats().Superseded+c.Stats().Gaps > 0 && c.handledOp.Load() >= log.LastOp()
	}, func() any { return c.Stats() })
	got := streamMessages(t, server.ClientURL())
	if ids := accountsCreated(got); !slices.Contains(ids, "1007") || c.Stats().Gaps != 0 {
		names := make([]string, len(got))
		for i, m := range got {
			names[i] = m.ID
		}
		t.Fatalf("account 1007 (the promoted node's op 3) must reach the stream, with no "+
			"capture_gap: log from op %d, stats %+v, messages %v", log.FirstOp(), c.Stats(), names)
	}
}

// TestHandledIgnoresARefusedAcknowledgement: an entry's last event answered with a
// duplicate or another sequence than expected (a second writer, a stream that lost
// messages) is not stored where capture put it: its op must not count as handled, nor
// the position move; the session ends and the next one resynchronizes.
func TestHandledIgnoresARefusedAcknowledgement(t *testing.T) {
	for _, ack := range []jetstream.PubAck{{Sequence: 7, Duplicate: true}, {Sequence: 9}} {
		c := opOfTwoEventsHalfStored(t)
		if err := c.acknowledged(&ack); err == nil {
			t.Fatalf("ack %+v accepted", ack)
		}
		if handled := c.ConsumerStats().HandledOp; handled != 4 {
			t.Fatalf("ack %+v of op 5's last event refused: handled op %d, want 4", ack, handled)
		}
		if stats := c.Stats(); stats.PublishedIndex != 0 || stats.StreamSequence != 6 {
			t.Fatalf("ack %+v refused: position moved: %+v", ack, stats)
		}
	}
}

// TestRestartHoldsTheLogAfterTheCheckedPosition: a restarted primary whose stream's last
// message agrees with its log, and which has nothing new to publish, holds the log after
// the op before the position's again once its session has checked it (not the whole
// log for good: no acknowledgement ever comes to move the position).
func TestRestartHoldsTheLogAfterTheCheckedPosition(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 1 }})
	c.Start()
	defer c.Close()
	waitUntil(t, "the restarted capture idle at op 3",
		func() bool { return c.Stats().Rebuilds > 0 && c.handledOp.Load() >= 3 },
		func() any { return c.Stats() })
	if op, held := c.HeldOp(); op != 2 || !held {
		t.Fatalf("restarted at op 3, checked: holds the log after op %d (%v), want after 2 "+
			"(%+v)", op, held, c.Stats())
	}
	if handled := c.ConsumerStats().HandledOp; handled != 3 {
		t.Fatalf("handled op %d, want 3", handled)
	}
}

// TestStandbyHoldsNoVoidedPosition: the standby's half of 09f4700. A standby holds the
// log its successor as primary will need, and that successor resumes after the newest
// message of the stream its log agrees with (settleDivergence), not after the stream's
// last message as read. Here the stream ends with ops 3 to 5 of the old primary (epoch
// 1, async), which the standby's primary of epoch 2 discarded: the standby holds that
// primary's op 3 (account 7), not yet published (its capture cannot reach NATS, or has not
// settled yet). Following the voided position (HeldOp 4) would let the standby's shard
// retire op 3 at its next snapshot (snapshots and retirement run on every replica);
// promoted, it would take the retired old ops for agreeing ones and account 7 would never
// reach the stream (TestPromotionDuringAnOutageKeepsTheLogOfItsOwnOps shows that
// consequence for a primary). The successor resumes after op 2, from a snapshot before
// it: the standby must hold the log after op 1 at most.
func TestStandbyHoldsNoVoidedPosition(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	messages := divergedStream(old, url, 5)
	standby := openReplica(t, dir+"/standby")
	standby.copyFrom(old, 2)
	standby.serve("", 2, []uint64{7}) // Its primary's op 3, epoch 2, as replicated.

	c := New(Config{URL: url, Log: standby.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 2 },
		Serving: func() bool { return false }})
	c.Start()
	defer c.Close()
	waitUntil(t, "the standby reading the stream's position",
		func() bool { return c.Stats().StreamSequence == messages },
		func() any { return c.Stats() })
	if op, held := c.HeldOp(); op > 1 || !held {
		t.Fatalf("standby, the stream's ops 3-5 voided by its history: holds the log after "+
			"op %d (%v), want after op 1 at most (its op 3 is not in the stream): %+v",
			op, held, c.Stats())
	}
}

// TestStandbyKeepsTheLastCheckedPosition: a standby's stream often runs ahead of its log
// (async mode: the primary publishes what its standby has not received yet). A position
// it cannot check yet keeps the one last checked, whose entry whoever published after it
// shares: the standby goes on holding the log after the op before it, neither all of the
// log nor the unchecked position's.
func TestStandbyKeepsTheLastCheckedPosition(t *testing.T) {
	dir := t.TempDir()
	standby := openReplica(t, dir+"/standby")
	standby.serve("", 1, []uint64{1, 2}, []uint64{3}) // Ops 1 (grants), 2, 3; epoch 1.
	c := New(Config{Log: standby.log, Released: func() uint64 { return 3 },
		Epoch: func() uint64 { return 1 }, Serving: func() bool { return false }})
	for _, step := range []struct {
		read messageName
		want uint64
	}{
		{messageName{at: position{op: 3}, epoch: 1}, 2}, // Agrees: held after op 2.
		{messageName{at: position{op: 5}, epoch: 1}, 2}, // Beyond the log: kept.
		{messageName{at: position{op: 2}, epoch: 2}, 2}, // Newer epoch: kept.
		{messageName{at: position{op: 2}, epoch: 1}, 1}, // Agrees: followed, even back.
	} {
		c.last = step.read
		c.storePosition(step.read.at, 4)
		if err := c.watch(); err != nil {
			t.Fatal(err)
		}
		if op, held := c.HeldOp(); op != step.want || !held {
			t.Fatalf("read %+v: holds the log after op %d (%v), want after %d", step.read,
				op, held, step.want)
		}
	}
}

// accountsFilling is a create_accounts body of EventsPerRequestMax accounts: first, then
// the existing account 1 again (refused, no event), a segment's worth of log.
// writeAccount1007AndFillers submits, one at a time, three create_accounts requests of
// accountsFilling (account 1007, then 1 twice): ops 3 to 5 of the tests above, filling a
// segment; each waits for its reply.
func writeAccount1007AndFillers(t *testing.T, s *shard.Shard, replier *nullReplier) {
	t.Helper()
	for number, first := range []uint64{1007, 1, 1} {
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2,
			Number: uint64(number) + 1, Operation: model.OperationCreateAccounts,
			Body: accountsFilling(first)}); status != model.StatusOK {
			t.Fatal(status)
		}
		waitUntil(t, "a reply", func() bool { return replier.replies.Load() >= uint64(number)+1 },
			func() any { return s.Released() })
	}
}

func accountsFilling(first uint64) []byte {
	body := make([]byte, model.EventsPerRequestMax*model.AccountSize)
	for i := range model.EventsPerRequestMax {
		id := uint64(1)
		if i == 0 {
			id = first
		}
		(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body[i*model.AccountSize:])
	}
	return body
}

// TestStandbyRetiresNoLogOfItsPrimarysOps: TestStandbyHoldsNoVoidedPosition's
// consequence, end to end. The stream holds ops 1 to 12 of the old primary (epoch 1,
// async); the new primary (epoch 2) had ops 1 and 2, writes op 3 (account 1007, and
// refused creations filling a segment), ops 4 and 5 (refused creations) and a snapshot
// request at op 6, and its capture publishes nothing (NATS unreachable from it). Its
// standby, whose capture reads the stream, replicates ops 3 to 6 and writes that
// snapshot too, retiring the log its capture does not hold. The primary dies and the
// standby is promoted: its capture must void ops 3 to 12 and publish account 1007, which
// needs the log from op 1 (no snapshot before op 2). Held after the voided op 11, the
// segment of op 3 went with the standby's snapshot, and the promoted capture took the
// retired old ops for agreeing ones: account 1007 never reached the stream.
func TestStandbyRetiresNoLogOfItsPrimarysOps(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	messages := divergedStream(old, url, 12)

	primaryLog, err := wal.Open(wal.Options{Dir: dir + "/primary", Compression: wal.CodecNone})
	if err != nil {
		t.Fatal(err)
	}
	defer primaryLog.Close()
	primary := &replica{t: t, log: primaryLog} // Stored uncompressed: the standby's segments fill.
	primary.copyFrom(old, 2)
	machine, _, err := shard.Recover(testMachine, primary.log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := shard.New(shard.Config{Epoch: 2,
		Snapshots: &shard.SnapshotConfig{Dir: dir + "/primary-snapshots"}}, machine, primary.log)
	if err != nil {
		t.Fatal(err)
	}
	replier := &nullReplier{}
	p.Start(shard.RepliesOnly(replier))
	writeAccount1007AndFillers(t, p, replier)
	p.RequestSnapshot() // Op 6.
	waitUntil(t, "the snapshot request released", func() bool { return p.Released() >= 6 },
		func() any { return p.Released() })
	p.Close()

	log, err := wal.Open(wal.Options{Dir: dir + "/standby", SegmentBytes: wal.SegmentBytesMin,
		Compression: wal.CodecNone})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	standby := &replica{t: t, log: log, snapshotDir: dir + "/standby-snapshots"}
	standby.copyFrom(old, 2)
	machine, _, err = shard.Recover(testMachine, log, standby.snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan shard.SnapshotResult, 4)
	s, err := shard.New(shard.Config{Epoch: 2, Role: shard.RoleStandby,
		Snapshots: &shard.SnapshotConfig{Dir: standby.snapshotDir, Keep: 1, RetireLog: true,
			OnWritten: func(r shard.SnapshotResult) { written <- r }}}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Log: log, SnapshotDir: standby.snapshotDir,
		Machine: testMachine, Released: s.Released, Epoch: s.Epoch,
		Serving: func() bool { return s.Role() == shard.RolePrimary }})
	s.AddConsumer(c, c)
	c.Start()
	defer c.Close()
	s.Start(shard.RepliesOnly(&nullReplier{}))
	defer s.Close()
	waitUntil(t, "the standby reading the stream's position",
		func() bool { return c.Stats().StreamSequence == messages },
		func() any { return c.Stats() })
	if err := primary.log.ReadStored(2, func(stored []byte, _ wal.EntryMeta) error {
		return s.Replicate(stored)
	}); err != nil {
		t.Fatal(err)
	}
	awaitSnapshotWritten(t, written)

	if err := s.Promote(3); err != nil { // The primary is gone.
		t.Fatal(err)
	}
	waitUntil(t, "capture settled and idle at the log's end", func() bool {
		return c.Stats().Superseded+c.Stats().Gaps > 0 && c.handledOp.Load() >= log.LastOp()
	}, func() any { return c.Stats() })
	got := streamMessages(t, url)
	if ids := accountsCreated(got); !slices.Contains(ids, "1007") || c.Stats().Gaps != 0 {
		names := make([]string, len(got))
		for i, m := range got {
			names[i] = m.ID
		}
		t.Fatalf("account 1007 (op 3, replicated by the standby) must reach the stream, "+
			"with no capture_gap: log from op %d, stats %+v, messages %v", log.FirstOp(),
			c.Stats(), names)
	}
}

// restartableNATS starts an embedded nats-server with its store under a new temporary
// directory, returned with the server and its host:port, so that a test can shut it down
// and start it again on the same address and store (natstest.Start(t, dir+"/nats", host)).
func restartableNATS(t *testing.T) (dir string, server *natsserver.Server, host string) {
	t.Helper()
	dir = t.TempDir()
	server = natstest.Start(t, dir+"/nats", "127.0.0.1:0")
	address, err := url.Parse(server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	return dir, server, address.Host
}

// awaitSnapshotWritten waits for the next snapshot its shard reports written (through
// SnapshotConfig.OnWritten) and fails the test if writing it failed.
func awaitSnapshotWritten(t *testing.T, written <-chan shard.SnapshotResult) {
	t.Helper()
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatal(result.Err)
		}
	case <-time.After(time.Minute): // A hang guard, not a timing assertion.
		t.Fatal("no snapshot written")
	}
}
