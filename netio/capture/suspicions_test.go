package capture

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/tools/natstest"
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
