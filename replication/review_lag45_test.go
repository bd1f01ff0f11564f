package replication

import (
	"testing"

	"sequent/core/model"
	"sequent/wal"
)

// TestLagBytesCountsWhatAReplacedStandbyLacks (review of lag45): a standby rebuilt from
// an empty data directory (the SequentReplicationFailed runbook's remedy) or replaced by
// a new machine attaches holding nothing, while the primary's acknowledged op is still
// its predecessor's (acked never goes down: it gates releases). lag_bytes must count the
// log the attached standby lacks — all of it here — not the bytes after the op another
// standby acknowledged: main read 0 (and lag_ops 0) for a standby that holds nothing,
// so the loss window in async mode was reported empty and SequentStandbyLagging stayed
// quiet however long the new standby took to catch up.
func TestLagBytesCountsWhatAReplacedStandbyLacks(t *testing.T) {
	primary, standby, primaryAddress := startAsyncPair(t)
	defer primary.Close()
	for i := uint64(1); i <= 5; i++ {
		primary.submit(t, i, i, model.OperationCreateAccounts, accounts(10*i, 10*i+1))
		primary.replies.wait(t, i)
	}
	p := primary.primary0()
	waitFor(t, "the first standby to acknowledge everything", func() bool {
		stats := p.Stats()
		return stats.AcknowledgedOp == primary.Log().LastOp() && stats.LagBytes == 0
	})
	standby.Close() // Its machine is gone; a new standby with an empty log replaces it.
	waitFor(t, "the first standby to detach", func() bool { return p.current.Load() == nil })

	holds, _ := primary.Log().StoredBytesAfter(0, wal.Position{})
	conn, reader, answer := dialHello(t, primaryAddress, primary.Epoch(),
		hello{shards: primary.shards(), mapChecksum: primary.mapChecksum(), lastOp: 0})
	defer conn.Close()
	if answer.kind != frameWelcome {
		t.Fatalf("the new standby's hello was answered with frame %d (%q)", answer.kind,
			answer.body)
	}
	// The primary streams once the attach is complete (the welcome goes before it).
	if first, err := reader.read(); err != nil || first.kind != frameEntry {
		t.Fatalf("after the welcome: frame %d (%v), want the first entry", first.kind, err)
	}
	// It acknowledges nothing (it has written nothing yet): it lacks the whole log.
	stats := p.Stats()
	if stats.LagBytes != uint64(holds) {
		t.Fatalf("a standby holding nothing attached to a primary storing %d bytes: "+
			"lag_bytes %d (lag_ops %d, acknowledged op %d, the previous standby's)", holds,
			stats.LagBytes, stats.LagOps, stats.AcknowledgedOp)
	}
}

// startAsyncPair starts an async primary and its standby on fresh loopback addresses and
// returns them with the primary's replication address. The caller closes both.
func startAsyncPair(t *testing.T) (primary, standby *testNode, primaryAddress string) {
	t.Helper()
	primaryAddress = freeAddress(t)
	config := nodeConfig(t.TempDir(), primaryAddress, "")
	config.Mode = ModeAsync
	primary = startNode(t, config)
	standby = startNode(t, nodeConfig(t.TempDir(), freeAddress(t), primaryAddress))
	return primary, standby, primaryAddress
}
