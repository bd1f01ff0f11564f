package replication

import (
	"context"
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

// rejoinThePromoted starts newDir's node as the primary promoted after a failover (one
// write of its own), then oldDir's as its standby, and requires the old primary to start
// and to come to hold the new primary's state. keep as in retiringSnapshots.
func rejoinThePromoted(t *testing.T, oldDir, newDir string, keep int) {
	t.Helper()
	promoted := startNode(t, retiringSnapshots(nodeConfig(newDir, freeAddress(t), ""), keep))
	defer promoted.Close()
	promoted.submit(t, 9000, 100, model.OperationCreateAccounts, accounts(3))
	promoted.replies.wait(t, 9000)
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	rejoinConfig := retiringSnapshots(nodeConfig(oldDir, "", promoted.config.Listen), keep)
	node, err := OpenNode(ctx, rejoinConfig)
	if err != nil {
		second, again := OpenNode(ctx, rejoinConfig) // Does a later start do better?
		if again == nil {
			second.Close()
		}
		t.Fatalf("the old primary cannot start as the new primary's standby: %v (started "+
			"again: %v)", err, again)
	}
	rejoined := &testNode{Node: node, replies: newCollector(), config: rejoinConfig}
	node.Start([]shard.Outputs{shard.RepliesOnly(rejoined.replies)})
	defer rejoined.Close()
	waitFor(t, "the old primary to hold the new primary's state", func() bool {
		return rejoined.Log().Durable() >= promoted.Log().LastOp()
	})
	if rejoined.Node.shardDigest(t) != promoted.Node.shardDigest(t) {
		t.Fatal("the rejoined node's state is not the new primary's")
	}
}
