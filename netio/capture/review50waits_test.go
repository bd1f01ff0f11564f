package capture

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// Review of capturehunt50 (session 50), claim (1): its author left the checks in
// skipToLive's wait and awaitRecoveredReleased untested. An idle publisher waiting
// there must report NATS gone (Connected false, LastError) and connect again by itself
// once it is back.
func TestReview50OtherWaitsNoticeNATSGone(t *testing.T) {
	t.Run("skipToLive", func(t *testing.T) {
		// Nothing before the live queue can be rebuilt; no shard feeds the queue, so
		// after capture_gap 3-4 the publisher waits for the queue's first entry.
		_, node, server, natsDir, host := damagedLayout(t)
		c := New(Config{URL: server.ClientURL(), Log: node.log, SnapshotDir: node.snapshotDir,
			Machine: testMachine, Released: func() uint64 { return 4 },
			Epoch: func() uint64 { return 2 }})
		c.Start()
		defer c.Close()
		waitUntil(t, "capture_gap 3-4 stored", func() bool {
			return c.Stats().Gaps == 1 && c.ConsumerStats().HandledOp == 4
		}, func() any { return c.Stats() })
		idleWithoutNATS(t, c, server.Shutdown,
			func() { natstest.Start(t, natsDir+"/nats", host) })
	})
	t.Run("awaitRecoveredReleased", func(t *testing.T) {
		// The stream lost its last message, and the shard has not released the ops it
		// recovered (4): the session waits before it settles the position.
		dir, server, host := restartableNATS(t)
		alone := openReplica(t, dir+"/alone")
		alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4}, []uint64{5, 6})
		var released atomic.Uint64
		released.Store(3)
		config := Config{URL: server.ClientURL(), Log: alone.log, Machine: testMachine,
			Released: released.Load, RecoveredOp: 3, Epoch: func() uint64 { return 1 }}
		first := New(config)
		first.Start()
		waitUntil(t, "ops 2 and 3 published", func() bool {
			return first.Stats().StreamSequence == 4
		}, func() any { return first.Stats() })
		first.Close()
		onStream(t, server.ClientURL(), func(s jetstream.Stream) error {
			return s.Purge(context.Background())
		})
		config.RecoveredOp = 4
		logged := &lockedBuffer{}
		config.Logger = slog.New(slog.NewTextHandler(logged, nil))
		c := New(config)
		c.Start()
		defer c.Close()
		waitUntil(t, "the session waiting for the recovered ops", func() bool {
			return logged.contains(recoveredWaitMessage)
		}, func() any { return c.Stats() })
		idleWithoutNATS(t, c, server.Shutdown, func() { natstest.Start(t, dir+"/nats", host) })
		released.Store(4)
		waitUntil(t, "the lost position settled", func() bool {
			return c.Stats().Gaps == 1
		}, func() any { return c.Stats() })
	})
}
