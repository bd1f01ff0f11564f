package replication

import (
	"bufio"
	"io"
	"math"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/shard"
	"sequent/wal"
)

// TestAcknowledgementRacingASendKeepsTheWaitClock: the ack reader reads the last op sent
// (1), the sender then sends op 2, and the standby's acknowledgement of op 1 arrives:
// op 2 still waits. The standby then keeps sending heartbeats but acknowledges nothing
// more (a stuck disk). The primary must count it as not acknowledging after
// standbySilenceMax; the acknowledgement used to clear the wait clock (it compared with
// the stale op sent), and with no further acknowledgement nothing restarted it: the stuck
// standby counted as attached for ever, and DegradeAfter never fired.
func TestAcknowledgementRacingASendKeepsTheWaitClock(t *testing.T) {
	p := &Primary{config: PrimaryConfig{Shard: newTestShard(t)}, ackNotify: make(chan struct{}, 1)}
	s := &primarySession{writer: bufio.NewWriter(io.Discard), wake: make(chan struct{}, 1)}
	p.current.Store(s)
	stored := make([]byte, 16)
	if err := p.sendEntry(s, stored, 1, 1); err != nil {
		t.Fatal(err)
	}
	sent := s.sentOp.Load() // The ack reader's view when the acknowledgement of op 1 arrives.
	if err := p.sendEntry(s, stored, 2, 2); err != nil {
		t.Fatal(err)
	}
	p.acknowledge(min(1, sent), sent)
	start := time.Now().UnixNano()
	for now := start; now <= start+int64(3*standbySilenceMax); now += int64(degradationCheckInterval) {
		p.stats.lastContactNs.Store(now) // Heartbeats keep coming.
		if p.standbyQuietSince(now) != 0 {
			return
		}
	}
	t.Fatalf("op 2 waited %v for an acknowledgement with heartbeats arriving, and the "+
		"standby still counts as acknowledging", 3*standbySilenceMax)
}

// TestFencedPrimaryReleasesNothingAlone: a primary that releases on its own durability
// (async mode, or sync degraded) and learns of a higher epoch (the promoted node's fence,
// without a witness) must release nothing more that way: its entries past what the
// standby acknowledged will be cut when it rejoins, so a reply released now is a write
// acknowledged and certainly lost. It used to release its parked replies on its own
// durability after the fence as before. What the standby acknowledged still goes out.
func TestFencedPrimaryReleasesNothingAlone(t *testing.T) {
	for _, c := range []struct {
		name     string
		mode     Mode
		degraded bool
	}{{"async", ModeAsync, false}, {"sync degraded", ModeSync, true}} {
		sh := newTestShard(t)
		p := &Primary{config: PrimaryConfig{Mode: c.mode, Shard: sh}}
		p.degraded.Store(c.degraded)
		p.acked.Store(5)
		if got := p.Acknowledged(); got != math.MaxUint64 {
			t.Fatalf("%s, primary: releases up to %d, want everything durable", c.name, got)
		}
		sh.Fence(2, "elsewhere:1")
		if got := p.Acknowledged(); got != 5 {
			t.Fatalf("%s, fenced: releases up to %d, want only what the standby "+
				"acknowledged (5)", c.name, got)
		}
	}
}

// newTestShard returns an unstarted primary shard at epoch 1 on an empty memory log, for
// tests of a Primary's decisions that read its shard's role and epoch.
func newTestShard(t *testing.T) *shard.Shard {
	t.Helper()
	sh, err := shard.New(shard.Config{Epoch: 1}, core.New(core.Config{}), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// sendEntry sends an entry whose place in the log is not known (the tests' entries are
// no log's): lag_bytes counts segments for its acknowledgement.
func (p *Primary) sendEntry(s *primarySession, stored []byte, firstOp, lastOp uint64) error {
	return p.sendEntryAt(s, stored, firstOp, lastOp, nil)
}
