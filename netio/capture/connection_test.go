package capture

import (
	"sync/atomic"
	"testing"

	"sequent/tools/natstest"
)

// TestIdleCaptureNoticesNATSGone: the capture's NATS connection never reconnects by
// itself (MaxReconnects(0)): a session ends on its first failed call and the next one
// connects again. A publisher with nothing to publish made no call, so when the
// nats-server went away it sat on the closed connection: Stats (sequent_capture_connected,
// /v1/status) said connected for as long as no event came, so SequentCaptureDisconnected
// never fired on a quiet node, and once the server was back it still said so while
// nothing connected to it. Checked idle in the live session (a shard feeding the queue)
// and idle in a rebuild waiting for its shard to release more (no live queue joined).
func TestIdleCaptureNoticesNATSGone(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		dir, server, host := restartableNATS(t)
		rig := newCaptureRigAt(t, dir, server.ClientURL(), "", "", 0)
		rig.accounts()
		rig.waitPublished(2)
		c := rig.capture
		waitUntil(t, "an idle live session", func() bool {
			return c.Stats().Connected && c.ConsumerStats().HandledOp >= 2
		}, func() any { return c.Stats() })
		idleWithoutNATS(t, c, server.Shutdown, func() { natstest.Start(t, dir+"/nats", host) })
		rig.transfers(1, 1, 1) // Op 3, published on the new connection.
		rig.waitPublished(3)
	})
	t.Run("rebuilding", func(t *testing.T) {
		dir, server, host := restartableNATS(t)
		alone := openReplica(t, dir+"/alone")
		alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4})
		released := &atomic.Uint64{}
		released.Store(2)
		c := New(Config{URL: server.ClientURL(), Log: alone.log, Machine: testMachine,
			Released: released.Load, Epoch: func() uint64 { return 1 }})
		c.Start()
		defer c.Close()
		waitUntil(t, "op 2 published", func() bool {
			return c.Stats().StreamSequence == 2 && c.ConsumerStats().HandledOp >= 2
		}, func() any { return c.Stats() })
		idleWithoutNATS(t, c, server.Shutdown, func() { natstest.Start(t, dir+"/nats", host) })
		released.Store(3)
		waitUntil(t, "op 3 published", func() bool { return c.Stats().StreamSequence == 4 },
			func() any { return c.Stats() })
	})
}

// idleWithoutNATS stops the nats-server under an idle capture, which must report itself
// disconnected, then starts it again, which the capture must find by itself.
func idleWithoutNATS(t *testing.T, c *Capture, stop, start func()) {
	t.Helper()
	stop()
	waitUntil(t, "capture reporting the nats-server gone", func() bool {
		return !c.Stats().Connected
	}, func() any { return c.Stats() })
	// The publisher stores the reason just after it reports itself disconnected (run):
	// waited for, not read at once.
	waitUntil(t, "capture saying why it is disconnected", func() bool {
		return c.Stats().LastError != ""
	}, func() any { return c.Stats() })
	start()
	waitUntil(t, "capture connected again while idle", func() bool {
		return c.Stats().Connected
	}, func() any { return c.Stats() })
}
