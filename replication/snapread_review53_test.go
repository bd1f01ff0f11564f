package replication

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/wal"
)

// Review 53 claim: when the only snapshot that bridges a standby's gap is marked damaged
// (its body failed with EIO while sent), the standby from nothing was told only "no
// snapshot bridges the gap": nothing said that one does, damaged on the primary's disk,
// nor what to do. The plan's error names the damaged snapshot and the way out.
func TestReview53OnlySnapshotDamagedPlanErrorSaysSo(t *testing.T) {
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	written := reportSnapshots(&config)
	primary := startNode(t, config)
	defer primary.Close()
	writeSegmentsOfHistory(t, primary)
	snapshot := snapshotNow(t, primary, written)
	primary.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	if primary.Log().FirstOp() <= 1 || primary.Log().FirstOp() > snapshot.Meta.Op+1 {
		t.Fatalf("setup: the log (first op %d) is not retired up to the snapshot at op %d",
			primary.Log().FirstOp(), snapshot.Meta.Op)
	}
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 1 {
		t.Fatalf("setup: snapshots %+v (%v)", snapshots, err)
	}
	path := snapshots[0].Path
	failNewestBodyRead(t, path, &os.PathError{Op: "read", Path: path, Err: syscall.EIO}, true)

	// A standby from nothing asks for the snapshot; the send fails on EIO and marks it.
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(t.TempDir(), "",
			primary.config.Listen), 1))
		if err == nil {
			node.Close()
		}
		opened <- err
	}()
	waitFor(t, "the snapshot marked damaged", func() bool {
		return primary.primary0().sentDamaged(path)
	})
	cancel()
	if err := <-opened; err == nil {
		t.Fatal("a standby started although the only snapshot does not read")
	}
	plan, err := primary.primary0().plan(&hello{})
	if err == nil {
		t.Fatalf("planned %+v for a standby from nothing", plan)
	}
	for _, want := range []string{"no snapshot bridges the gap", "damaged", "sequent admin snapshot"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the plan's error %q does not say %q", err, want)
		}
	}
}
