package capture

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// lockedBuffer is a log destination written by a publisher and read by the test.
type lockedBuffer struct {
	mutex  sync.Mutex
	buffer bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.Write(p)
}

func (b *lockedBuffer) contains(text string) bool {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return strings.Contains(b.buffer.String(), text)
}

// TestLostPositionAfterARestart: a node alone published ops 2 and 3 (accounts 1-4,
// messages 1-4) and stopped; the stream then lost op 3's two events (deleted; a max age
// or a purge of one subject does the same), so its newest message left is op 2's last.
// The node restarts on the same log in sync mode: it recovers op 3, but counts it
// released only once its standby acknowledges it (the standby has acknowledged op 2, or
// nothing yet: Released reads 0 then, as it does before any shard's first release, and
// the server starts capture before its shard). Capture's session starts before that. It
// must settle
// the lost position through op 3, which the previous process released and published:
// capture_gap from op 2 to op 3, then the next ops. It read the released op as it was
// (2, or 0), published capture_gap through op 2 only and resumed after it, so op 3's
// events went out again under the deleted messages' ids: JetStream answered them as
// duplicates, and every session failed the same way for the duplicate window (past it,
// consumers got them twice).
func TestLostPositionAfterARestart(t *testing.T) {
	for _, acknowledged := range []uint64{0, 2} {
		t.Run(fmt.Sprintf("standby at op %d", acknowledged), func(t *testing.T) {
			testLostPositionAfterARestart(t, acknowledged)
		})
	}
}

func testLostPositionAfterARestart(t *testing.T, acknowledged uint64) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	before := openReplica(t, dir+"/log")
	before.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1-3, messages 1-4.
	if err := before.log.Close(); err != nil {
		t.Fatal(err)
	}
	deleteMessages(t, url, 3, 4) // Op 3's events.
	restartOnLostPosition(t, dir+"/log", url, acknowledged, 2, []string{"1", "2", "5", "6"})
}

// TestLostPositionAfterAMarkerAfterARestart: as TestLostPositionAfterARestart, but the
// newest message left is a capture_gap through op 2 (a lost position settled before,
// message 3), after which the previous process published op 3 (messages 4, 5), which the
// stream lost. A marker through the released op read too early (2) would have this
// marker's id, so the session published none and resumed after op 2: op 3's events went
// out again under the removed messages' ids, refused as duplicates at every session.
func TestLostPositionAfterAMarkerAfterARestart(t *testing.T) {
	for _, acknowledged := range []uint64{0, 2} {
		t.Run(fmt.Sprintf("standby at op %d", acknowledged), func(t *testing.T) {
			dir := t.TempDir()
			url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
			before := openReplica(t, dir+"/log")
			before.serve("", 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1-3, no capture.
			// The previous process's captures: op 2 published (messages 1, 2), the stream
			// purged, capture_gap through op 2 (3), then op 3 released (4, 5).
			var released atomic.Uint64
			released.Store(2)
			config := Config{URL: url, Log: before.log, Machine: testMachine,
				Released: released.Load, RecoveredOp: 2, Epoch: func() uint64 { return 1 }}
			first := New(config)
			first.Start()
			stats := awaitSequence(t, first, 2)
			first.Close()
			if stats.LastError != "" {
				t.Fatalf("the previous process's first capture: %+v", stats)
			}
			onStream(t, url, func(s jetstream.Stream) error { return s.Purge(context.Background()) })
			second := New(config)
			second.Start()
			stats = awaitSequence(t, second, 3) // capture_gap through op 2.
			if stats.LastError == "" {
				released.Store(3)
				stats = awaitSequence(t, second, 5)
			}
			second.Close()
			if stats.LastError != "" || stats.Gaps != 1 || stats.PublishedOp != 3 {
				t.Fatalf("the previous process's second capture: %+v", stats)
			}
			if err := before.log.Close(); err != nil {
				t.Fatal(err)
			}
			deleteMessages(t, url, 4, 5) // Op 3's events.
			restartOnLostPosition(t, dir+"/log", url, acknowledged, 3, []string{"5", "6"})
		})
	}
}

// deleteMessages deletes the stream's messages from through to.
func deleteMessages(t *testing.T, url string, from, to uint64) {
	t.Helper()
	onStream(t, url, func(s jetstream.Stream) error {
		for sequence := from; sequence <= to; sequence++ {
			if err := s.DeleteMsg(context.Background(), sequence); err != nil {
				return err
			}
		}
		return nil
	})
}

// restartOnLostPosition restarts a node on the log in logDir (ops 1-3, all of them
// released and published by the process before, whose stream lost op 3's events) in
// sync mode, its standby at op acknowledged, and checks that its capture settles the
// lost position with capture_gap 0:3:gap:1 from op gapFrom once op 3 is released, then
// publishes op 4 (accounts 5, 6): the stream then holds the accounts named.
func restartOnLostPosition(t *testing.T, logDir, url string, acknowledged, gapFrom uint64,
	accounts []string) {
	t.Helper()
	node := restartNode(t, logDir, url, acknowledged)
	if opLast := node.shard.Stats().OpLast; opLast != 3 {
		t.Fatalf("recovered op %d, want 3", opLast)
	}
	s, c, standby, logged := node.shard, node.capture, node.standby, node.logged
	// The session has decided: it waits for the recovered ops (it says so once), or it
	// settled the lost position without waiting and went on to its rebuild.
	waitUntil(t, "the session's decision on the lost position", func() bool {
		stats := c.Stats()
		return logged.contains(recoveredWaitMessage) || stats.Rebuilds > 0 ||
			stats.LastError != ""
	}, func() any { return c.Stats() })
	standby.op.Store(3) // The standby caught up: op 3 is released.
	standby.signal()
	waitUntil(t, "op 3 settled", func() bool {
		return c.handledOp.Load() >= 3 || c.Stats().LastError != ""
	}, func() any { return c.Stats() })
	// The next op (accounts 5, 6) follows the marker.
	end := c.Stats().StreamSequence
	standby.op.Store(4)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(5, 6)}); status != model.StatusOK {
		t.Fatal(status)
	}
	standby.signal()
	stats := awaitSequence(t, c, end+2)
	messages := streamMessages(t, url)
	last := gapMarkers(messages)
	if stats.LastError != "" || stats.Gaps != 1 || len(last) == 0 ||
		last[len(last)-1].ID != "0:3:gap:1" || last[len(last)-1].FromOp != gapFrom ||
		!slices.Equal(accountsCreated(messages), accounts) {
		t.Fatalf("stats %+v; messages %+v: want capture_gap 0:3:gap:1 from op %d, then "+
			"accounts 5 and 6", stats, messages, gapFrom)
	}
}

// restartedNode is a shard and its capture reopened on a log directory as after a
// process restart: the machine recovered from the log, a sync standby that acknowledged
// op acknowledged, and the capture created and started before the shard, as cmd/sequent
// does. All of it is closed when the test ends.
type restartedNode struct {
	log     *wal.Log
	shard   *shard.Shard
	capture *Capture
	standby *ackAt
	logged  *lockedBuffer // The capture's log lines.
}

func restartNode(t *testing.T, logDir, url string, acknowledged uint64) *restartedNode {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: logDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	machine, _, err := shard.Recover(testMachine, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	standby := &ackAt{notify: make(chan struct{}, 1)}
	standby.op.Store(acknowledged)
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
	t.Cleanup(func() {
		s.Close()
		c.Close()
	})
	return &restartedNode{log: log, shard: s, capture: c, standby: standby, logged: logged}
}

// accountsBody is a create_accounts body of the given account ids (ledger 1, code 1).
func accountsBody(ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.AccountSize)
	for i, id := range ids {
		(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body[i*model.AccountSize:])
	}
	return body
}
