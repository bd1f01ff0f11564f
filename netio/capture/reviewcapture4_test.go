package capture

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/tools/natstest"
)

// TestLostPositionAfterARestartLosesNoNewOp: as TestLostPositionAfterARestart (ops 1-3
// published by the previous process, op 3's events deleted since, a restart in sync
// mode whose standby has acknowledged nothing yet), but a client writes op 4 (accounts
// 5, 6) while the session waits for the recovered ops, and the standby then
// acknowledges everything at once: the shard releases ops 3 and 4 in one turn, so the
// session's next poll reads 4. Nobody ever published op 4 (this process's first session
// has published nothing, and the previous process never had it): its events are in the
// log and must follow the marker. The marker went through the released op read after
// the wait (0:4:gap:1, ops 2-4), and op 4's events were never published.
func TestLostPositionAfterARestartLosesNoNewOp(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	before := openReplica(t, dir+"/log")
	before.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1-3, messages 1-4.
	if err := before.log.Close(); err != nil {
		t.Fatal(err)
	}
	deleteMessages(t, url, 3, 4) // Op 3's events.

	node := restartNode(t, dir+"/log", url, 0) // The standby acknowledged nothing yet.
	log, s, c, standby, logged := node.log, node.shard, node.capture, node.standby, node.logged
	waitUntil(t, "the session waiting for the recovered ops", func() bool {
		return logged.contains(recoveredWaitMessage) || c.Stats().LastError != ""
	}, func() any { return c.Stats() })
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(5, 6)}); status != model.StatusOK {
		t.Fatal(status)
	}
	waitUntil(t, "op 4 durable", func() bool { return log.Durable() >= 4 },
		func() any { return log.Durable() })
	if released := s.Released(); released != 0 {
		t.Fatalf("released op %d before the standby acknowledged anything", released)
	}
	standby.op.Store(4) // The standby caught up with ops 3 and 4 at once.
	standby.signal()
	stats := awaitStats(t, c, func(s Stats) bool {
		return s.LastError != "" || (s.Gaps > 0 && c.handledOp.Load() >= 4)
	})
	// Whatever was published is stored now (handled); give a wrong trailing publication
	// no chance to hide: the stream is read once the capture stopped.
	c.Close()
	messages := streamMessages(t, url)
	last := gapMarkers(messages)
	if stats.LastError != "" || stats.Gaps != 1 || len(last) != 1 ||
		last[0].ID != "0:3:gap:1" || last[0].FromOp != 2 || last[0].ToOp != 3 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "5", "6"}) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:3:gap:1 for ops 2-3, then "+
			"op 4's accounts 5 and 6", stats, messages)
	}
}

// TestLostPositionLosesNoOpReleasedBeforeTheFirstSession: capture published ops 2 and 3
// (messages 1-4) and the process stopped; the stream then lost op 3's last event. The
// node restarts as the primary (it recovers op 3, released at once: no standby to wait
// for) and releases op 4 before its capture's first session reads the stream (NATS
// reachable a moment after the shard started, or hours later: the log is held for it).
// Nobody ever published op 4: this capture has published nothing, the previous process
// never had it, and a node primary since its start wrote every op after the one it
// recovered. The marker must stop at op 3 and op 4's events follow it. It went through
// the released op (0:4:gap:1), and op 4's events, which the log held for capture, were
// never published.
func TestLostPositionLosesNoOpReleasedBeforeTheFirstSession(t *testing.T) {
	lost := newLostStream(t)
	if stats := lost.run(t, 4); stats.LastError != "" || stats.PublishedOp != 3 {
		t.Fatalf("first run: %+v", stats)
	}
	deleteMessages(t, lost.url, 4, 4) // Op 3's last event.
	lost.released.Store(4)            // Released by the restarted process before its session.
	c := New(lost.config)             // RecoveredOp 3.
	c.Start()
	stats := awaitStats(t, c, func(s Stats) bool { return s.Gaps > 0 && s.LagOps == 0 })
	c.Close()
	messages := streamMessages(t, lost.url)
	gaps := gapMarkers(messages)
	if stats.LastError != "" || len(gaps) != 1 || gaps[0].ID != "0:3:gap:1" ||
		gaps[0].FromOp != 3 || gaps[0].ToOp != 3 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "5", "6"}) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:3:gap:1 for op 3, then op "+
			"4's accounts 5 and 6", stats, messages)
	}
}

// TestLostPositionCoversWhatThisCaptureSent: a node primary since its start (recovered
// op 3) publishes op 4 (messages 5, 6) in one session; the stream then loses op 4's
// events (deleted; a stranger's message after them too), and the session ends at its
// next publication (op 5's first event, refused: the stream moved past the sequence it
// expects; a NATS blip ends a session the same way). The next session finds the
// position lost, its newest message left op 3's last event: the marker must go through
// op 5 at least as far as this capture sent (op 4's events are stored, op 5's may be),
// not stop at the recovered op, or op 4's events go out again under the removed
// messages' ids, refused as duplicates at every session.
func TestLostPositionCoversWhatThisCaptureSent(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6}, []uint64{7, 8})
	var released atomic.Uint64
	released.Store(4)
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine, Released: released.Load,
		RecoveredOp: 3, Epoch: func() uint64 { return 1 }})
	c.Start()
	defer c.Close()
	if stats := awaitSequence(t, c, 6); stats.LastError != "" || stats.PublishedOp != 4 {
		t.Fatalf("ops 2-4: %+v", stats)
	}
	js, closeConnection := operatorJetStream(t, url)
	if _, err := js.Publish(context.Background(), SubjectPrefixDefault+".0.test",
		[]byte(`{"kind":"test"}`), jetstream.WithMsgID("0:9:0:1")); err != nil {
		t.Fatal(err)
	}
	closeConnection()
	deleteMessages(t, url, 5, 7) // Op 4's events and the stranger's.
	released.Store(5)
	waitUntil(t, "op 5 handled, or a duplicate refused", func() bool {
		return c.handledOp.Load() >= 5 || strings.Contains(c.Stats().LastError, "duplicate true")
	}, func() any { return c.Stats() })
	c.Close()
	stats := c.Stats()
	messages := streamMessages(t, url)
	gaps := gapMarkers(messages)
	if strings.Contains(stats.LastError, "duplicate") || len(gaps) != 1 ||
		gaps[0].ID != "0:5:gap:1" || gaps[0].FromOp != 3 || gaps[0].ToOp != 5 {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:5:gap:1 for ops 3-5", stats,
			messages)
	}
}

// TestPromotedStandbysLostPositionCoversWhatItReleasedAsAStandby: a standby (recovered
// op 3 when it started) released op 4 as its primary did, whose capture published ops 2-4
// (messages 1-6); the stream lost op 4's events, and the standby is promoted. A
// standby's released op counts what its primary may have published: the marker must go
// through op 4 (0:4:gap:1), not stop at the op it recovered, or op 4's events go out
// again under the removed messages' ids (refused as duplicates at every session). Op 5,
// released once promoted, follows the marker.
func TestPromotedStandbysLostPositionCoversWhatItReleasedAsAStandby(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6}, []uint64{7, 8})
	var released atomic.Uint64
	released.Store(4)
	primary := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		Released: released.Load, Epoch: func() uint64 { return 1 }})
	primary.Start()
	stats := awaitSequence(t, primary, 6)
	primary.Close()
	if stats.LastError != "" || stats.PublishedOp != 4 {
		t.Fatalf("the primary's capture: %+v", stats)
	}
	deleteMessages(t, url, 5, 6) // Op 4's events.
	var serving atomic.Bool
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine, Released: released.Load,
		RecoveredOp: 3, Serving: serving.Load, Epoch: func() uint64 { return 2 }})
	c.Start()
	defer c.Close()
	awaitSequence(t, c, 6) // Watching the stream as a standby.
	serving.Store(true)    // Promoted.
	awaitStats(t, c, func(s Stats) bool { return s.Gaps > 0 })
	released.Store(5)
	// Both of op 5's events (accounts 7 and 8): PublishedOp reaches 5 with the first one's
	// acknowledgement, and the stream read below once lacked the second (CI, -race).
	stats = awaitStats(t, c, func(s Stats) bool {
		return s.LastError != "" || s.PublishedOp > 5 || s.PublishedOp == 5 && s.PublishedIndex >= 1
	})
	messages := streamMessages(t, url)
	gaps := gapMarkers(messages)
	if stats.LastError != "" || len(gaps) != 1 || gaps[0].ID != "0:4:gap:1" ||
		gaps[0].FromOp != 3 || gaps[0].ToOp != 4 ||
		!slices.Equal(accountsCreated(messages), []string{"1", "2", "3", "4", "7", "8"}) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:4:gap:1 for ops 3-4, then op "+
			"5's accounts 7 and 8", stats, messages)
	}
}

// TestRecoveredWaitEndsOnDemotionAndClose: a session waiting for the recovered ops (the
// shard released none yet) ends when the node is demoted or fenced (the next session
// watches as a standby: it reads the stream's later messages) and publishes nothing once
// the ops are released; a Close ends the wait as well.
func TestRecoveredWaitEndsOnDemotionAndClose(t *testing.T) {
	for _, demote := range []bool{true, false} {
		name := map[bool]string{true: "demoted", false: "closed"}[demote]
		t.Run(name, func(t *testing.T) {
			lost := newLostStream(t)
			if stats := lost.run(t, 4); stats.LastError != "" {
				t.Fatalf("first run: %+v", stats)
			}
			deleteMessages(t, lost.url, 4, 4) // Op 3's last event.
			lost.released.Store(0)            // Restarted: nothing released yet.
			var serving atomic.Bool
			serving.Store(true)
			logged := &lockedBuffer{}
			config := lost.config
			config.Serving = serving.Load
			config.Logger = slog.New(slog.NewTextHandler(logged, nil))
			c := New(config)
			c.Start()
			waitUntil(t, "the session waiting", func() bool {
				return logged.contains(recoveredWaitMessage) || c.Stats().LastError != ""
			}, func() any { return c.Stats() })
			if demote {
				serving.Store(false)
				js, closeConnection := operatorJetStream(t, lost.url)
				_, err := js.Publish(context.Background(), SubjectPrefixDefault+".0.test",
					[]byte(`{"id":"0:3:5:1","kind":"test"}`), jetstream.WithMsgID("0:3:5:1"))
				closeConnection()
				if err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "a standby's poll reading message 5", func() bool {
					return c.Stats().StreamSequence >= 5
				}, func() any { return c.Stats() })
				// The session waiting polled nothing: a standby's read message 5. The poll
				// that reads message 6 comes after the ops are released.
				lost.released.Store(3)
				js, closeConnection = operatorJetStream(t, lost.url)
				_, err = js.Publish(context.Background(), SubjectPrefixDefault+".0.test",
					[]byte(`{"id":"0:3:6:1","kind":"test"}`), jetstream.WithMsgID("0:3:6:1"))
				closeConnection()
				if err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "a standby's poll reading message 6", func() bool {
					return c.Stats().StreamSequence >= 6 || c.Stats().Gaps > 0
				}, func() any { return c.Stats() })
			}
			closed := make(chan struct{})
			go func() {
				c.Close()
				close(closed)
			}()
			waitUntil(t, "Close returning", func() bool {
				select {
				case <-closed:
					return true
				default:
					return false
				}
			}, func() any { return c.Stats() })
			if stats := c.Stats(); stats.Gaps != 0 || stats.LastError != "" ||
				len(gapMarkers(streamMessages(t, lost.url))) != 0 {
				t.Fatalf("stats %+v: want no capture_gap and no error", stats)
			}
		})
	}
}
