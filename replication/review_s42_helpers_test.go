package replication

import (
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// Helpers of the session 42 start-over and truncation tests: a node alone whose log is
// retired up to its snapshots, a history long enough to span segments, and a snapshot
// taken on demand.

// retiringSnapshots returns config for a node alone (async: its replies need no standby)
// with 2.5 MiB uncompressed segments, keeping keep snapshots and retiring its log up to
// them.
func retiringSnapshots(config NodeConfig, keep int) NodeConfig {
	config.Mode = ModeAsync
	config.WAL = wal.Options{SegmentBytes: 5 << 19, Compression: wal.CodecNone}
	config.Snapshots = &shard.SnapshotConfig{RetireLog: true, Keep: keep}
	return config
}

// reportSnapshots makes the node built from config report each snapshot it writes on the
// channel returned (config.Snapshots must be set: retiringSnapshots).
func reportSnapshots(config *NodeConfig) chan shard.SnapshotResult {
	written := make(chan shard.SnapshotResult, 1)
	config.Snapshots.OnWritten = func(r shard.SnapshotResult) { written <- r }
	return written
}

// snapshotNow requests a snapshot of n's state and returns it once written (written:
// reportSnapshots of n's config).
func snapshotNow(t *testing.T, n *testNode, written <-chan shard.SnapshotResult) shard.SnapshotResult {
	t.Helper()
	n.Shard().RequestSnapshot()
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatal(result.Err)
		}
		return result
	case <-time.After(waitMax):
		t.Fatal("no snapshot")
	}
	return shard.SnapshotResult{}
}

// writeSegmentsOfHistory creates accounts 1 and 2 on n and then 40 requests of 1,000
// transfers between them (~5 MB: more than two of retiringSnapshots' segments), each
// waited for, with client numbers 1 and 2..41 and request ids 1 and 10..49.
func writeSegmentsOfHistory(t *testing.T, n *testNode) {
	t.Helper()
	n.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	n.replies.wait(t, 1)
	for i := uint64(0); i < 40; i++ {
		var body []byte
		for j := uint64(0); j < 1000; j++ {
			body = append(body, transfer(1000+i*1000+j, 1, 2, 1)...)
		}
		n.submit(t, 10+i, 2+i, model.OperationCreateTransfers, body)
		n.replies.wait(t, 10+i)
	}
}
