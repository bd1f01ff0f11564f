package replication

import (
	"bufio"
	"io"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/wal"
)

// lagBytesPrimary is a primary over a real log holding entries of several sizes over
// several segments, with a session attached (no connection: sends go to a discarded
// buffer). It returns every entry's last op and stored size, in log order.
func lagBytesPrimary(t *testing.T) (*Primary, *primarySession, []uint64, []int64) {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), SegmentBytes: wal.SegmentBytesMin,
		Compression: wal.CodecNone, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	for i := range 12 { // A 700 KiB entry every fourth: two fill a segment.
		size := 100 + 37*i
		if i%4 == 3 {
			size = 700 << 10
		}
		op := log.LastOp() + 1
		if err := log.Append(wal.Entry{Epoch: 1, FirstOp: op, Count: uint32(1 + i%3),
			Timestamp: uint64(op), Body: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
	for log.Durable() < log.LastOp() { // A hang is the test binary's timeout.
		select {
		case <-log.DurableNotify():
		case <-time.After(10 * time.Millisecond):
		}
	}
	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t)},
		ackNotify: make(chan struct{}, 1)}
	s := &primarySession{writer: bufio.NewWriter(io.Discard), wake: make(chan struct{}, 1)}
	p.current.Store(s)
	var lastOps []uint64
	var sizes []int64
	err = log.ReadStored(0, func(stored []byte, meta wal.EntryMeta) error {
		lastOps = append(lastOps, meta.FirstOp+uint64(meta.Count)-1)
		sizes = append(sizes, int64(len(stored)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, s, lastOps, sizes
}

// TestLagBytesCountsTheStoredBytesTheStandbyLacks: sequent_replication_lag_bytes is the
// primary's stored log bytes after the op its standby acknowledged: all of the log before
// any acknowledgement, and, as the standby acknowledges entry after entry (here every
// other one, streamed from op 0 and from the middle of the log, their ends recorded as
// sent), exactly the stored entries after it, to 0 once it holds everything. It read 0 at
// all times before (hunt45b).
func TestLagBytesCountsTheStoredBytesTheStandbyLacks(t *testing.T) {
	for _, startEntry := range []int{0, 5} {
		p, s, lastOps, sizes := lagBytesPrimary(t)
		startOp := uint64(0)
		if startEntry > 0 {
			startOp = lastOps[startEntry-1]
			p.acknowledge(startOp, startOp) // The standby already held the first entries.
		}
		var total int64
		for _, size := range sizes[startEntry:] {
			total += size
		}
		// Op 0 is exact without a position; op startOp was acknowledged before this
		// session sent anything, so its end is not known: never short then.
		if got := p.Stats().LagBytes; got != uint64(total) && (startOp == 0 || got < uint64(total)) {
			t.Fatalf("nothing streamed after op %d: lag_bytes %d, the log stores %d after it",
				startOp, got, total)
		}
		s.sentOp.Store(startOp)
		p.sentEnds.reset() // As an attach does.
		err := p.config.Log.ReadStored(startOp, func(stored []byte, meta wal.EntryMeta) error {
			return p.sendEntryAt(s, stored, meta.FirstOp, meta.FirstOp+uint64(meta.Count)-1, &meta)
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := startEntry; i < len(lastOps); i++ {
			total -= sizes[i]
			if (i-startEntry)%2 == 0 && i != len(lastOps)-1 {
				continue // Acknowledged together with the next entry.
			}
			p.acknowledge(lastOps[i], s.sentOp.Load())
			if got := p.Stats().LagBytes; got != uint64(total) {
				t.Fatalf("streamed after op %d, acknowledged op %d: lag_bytes %d, the log "+
					"stores %d after it", startOp, lastOps[i], got, total)
			}
		}
		if total != 0 || p.Stats().LagOps != 0 {
			t.Fatalf("all acknowledged: %d bytes left, lag_ops %d", total, p.Stats().LagOps)
		}
	}
}

// TestAttachedStandbyNeverSilentForLong: the SequentStandbyLagging alert's second branch
// used to be lag_seconds > 10 while standby_attached == 1. A primary counts its standby as
// attached only while it was heard from within standbySilenceMax (1 s), and lag_seconds is
// the time since it was heard from: one snapshot never shows both (Stats computes them
// together), so the branch could never be true. Checked from heard-just-now to 12 s ago.
func TestAttachedStandbyNeverSilentForLong(t *testing.T) {
	p, _, _, _ := lagBytesPrimary(t)
	for silence := time.Duration(0); silence <= 12*time.Second; silence += 250 * time.Millisecond {
		p.stats.lastContactNs.Store(time.Now().Add(-silence).UnixNano())
		stats := p.Stats()
		if stats.Attached && stats.LagMs > 10_000 {
			t.Fatalf("standby silent for %d ms counted as attached: lag_seconds > 10 while "+
				"attached can be true", stats.LagMs)
		}
		// A second past standbySilenceMax leaves room for a descheduled test, not a timing.
		if silence > standbySilenceMax+time.Second && stats.Attached {
			t.Fatalf("standby silent for %v counted as attached", silence)
		}
	}
}

// TestLagBytesOfALiveStandby: with a real link (an async pair on loopback), a standby that
// has acknowledged everything is 0 bytes behind, and once it is gone the primary's lag in
// bytes is exactly the stored entries its log wrote after the op the standby last
// acknowledged (summed here from the log itself), the acknowledged op's end found among
// those the live stream recorded.
func TestLagBytesOfALiveStandby(t *testing.T) {
	primary, standby, _ := startAsyncPair(t)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	for i := uint64(2); i <= 12; i++ {
		primary.submit(t, i, i, model.OperationCreateTransfers, transfer(i, 1, 2, i))
		primary.replies.wait(t, i)
	}
	waitFor(t, "the standby to acknowledge the whole log", func() bool {
		stats := primary.primary0().Stats()
		return stats.Attached && stats.AcknowledgedOp == primary.Log().LastOp()
	})
	if lag := primary.Status().Primary.LagBytes; lag != 0 {
		t.Fatalf("a standby that acknowledged every op: lag_bytes %d", lag)
	}
	standby.Close()
	for i := uint64(13); i <= 20; i++ {
		primary.submit(t, i, i, model.OperationCreateTransfers, transfer(i, 1, 2, i))
		primary.replies.wait(t, i)
	}
	acknowledged := primary.primary0().Stats().AcknowledgedOp
	var want uint64
	err := primary.Log().ReadStored(acknowledged, func(stored []byte, meta wal.EntryMeta) error {
		want += uint64(len(stored))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	status := primary.Status()
	if want == 0 || status.Primary.LagBytes != want || status.Groups[0].Primary.LagBytes != want {
		t.Fatalf("standby gone at op %d, log at op %d: lag_bytes %d (shard 0: %d), the log "+
			"stores %d bytes after op %d", acknowledged, primary.Log().LastOp(),
			status.Primary.LagBytes, status.Groups[0].Primary.LagBytes, want, acknowledged)
	}
}
