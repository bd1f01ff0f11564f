package replication

import (
	"context"
	"os"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestPrimaryStopsOfferingASnapshotWhoseBodyIsDamaged (review of hunt51b): a standby
// now refuses a received snapshot whose body does not read whole, and OpenNode fails.
// The primary's plan picks the newest snapshot whose header reads (its body is never
// checked), so it offered the same damaged snapshot at every attempt: the standby could
// not start at all, although an older snapshot of the primary, whole, bridged the gap to
// its log. Once a send has shown a snapshot's body damaged, the primary must offer the
// next one (here the first attempt may fail; the second must start over from the whole
// older snapshot and hold the primary's state).
func TestPrimaryStopsOfferingASnapshotWhoseBodyIsDamaged(t *testing.T) {
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 2)
	written := reportSnapshots(&config)
	primary := startNode(t, config)
	defer primary.Close()
	writeSegmentsOfHistory(t, primary)
	older := snapshotNow(t, primary, written)
	primary.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	newest := snapshotNow(t, primary, written)
	if primary.Log().FirstOp() <= 1 || primary.Log().FirstOp() > older.Meta.Op+1 {
		t.Fatalf("setup: the log (first op %d) is not retired up to the older snapshot "+
			"at op %d", primary.Log().FirstOp(), older.Meta.Op)
	}
	// The newest snapshot's body is damaged on the primary's disk (its header reads).
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 2 || snapshots[0].Meta.Op != newest.Meta.Op {
		t.Fatalf("setup: snapshots %+v (%v)", snapshots, err)
	}
	file, err := os.ReadFile(snapshots[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	file[len(file)-3] ^= 0xFF
	if err := os.WriteFile(snapshots[0].Path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	want := primary.Node.shardDigest(t)

	standbyDir := t.TempDir()
	var errs []error
	for attempt := 0; attempt < 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
		node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(standbyDir, "",
			primary.config.Listen), 2))
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got := node.Recovery().SnapshotOp; got != older.Meta.Op {
			node.Close()
			t.Fatalf("the standby started from the snapshot at op %d, want the whole one "+
				"at op %d", got, older.Meta.Op)
		}
		standby := &testNode{Node: node, replies: newCollector()}
		node.Start([]shard.Outputs{shard.RepliesOnly(standby.replies)})
		defer standby.Close()
		waitFor(t, "the standby catching up", func() bool {
			return node.Log().Durable() >= primary.Log().LastOp()
		})
		if node.shardDigest(t) != want {
			t.Fatal("the standby's state is not the primary's")
		}
		return
	}
	t.Fatalf("the standby could not start in two attempts: the primary offers the same "+
		"damaged snapshot each time: %v", errs)
}
