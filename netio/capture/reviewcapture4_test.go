package capture

import (
	"log/slog"
	"slices"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
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

	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	machine, _, err := shard.Recover(testMachine, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	standby := &ackAt{notify: make(chan struct{}, 1)} // Acknowledged nothing yet.
	s, err := shard.New(shard.Config{Epoch: 1, Acknowledger: standby}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	logged := &lockedBuffer{}
	c := New(Config{URL: url, Log: log, Machine: testMachine, Released: s.Released,
		Epoch: s.Epoch, Logger: slog.New(slog.NewTextHandler(logged, nil))})
	s.AddConsumer(c, c)
	c.Start()
	s.Start(shard.RepliesOnly(&nullReplier{}))
	defer func() {
		s.Close()
		c.Close()
	}()
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
	standby.notify <- struct{}{}
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
