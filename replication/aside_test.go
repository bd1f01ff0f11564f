package replication

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sequent/core/model"
	"sequent/wal"
)

// ownStateRetired builds, in a new directory, a node's own state whose log is retired up
// to its snapshot (keep 1) with one entry after it, as a node that retires its log holds
// it, and returns the directory, the log's last op and the state's digest.
func ownStateRetired(t *testing.T) (dir string, lastOp uint64, digest [32]byte) {
	t.Helper()
	dir = t.TempDir()
	config := retiringSnapshots(nodeConfig(dir, freeAddress(t), ""), 1)
	written := reportSnapshots(&config)
	alone := startNode(t, config)
	writeSegmentsOfHistory(t, alone)
	snapshotNow(t, alone, written)
	alone.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	alone.replies.wait(t, 5000)
	if alone.Log().FirstOp() <= 1 {
		t.Fatalf("setup: the log was not retired (first op %d)", alone.Log().FirstOp())
	}
	lastOp, digest = alone.Log().LastOp(), alone.Node.shardDigest(t)
	alone.Close()
	return dir, lastOp, digest
}

// TestSetAsideCrashAtEveryStepLeavesAUsableState: a start over, or a truncation that
// would leave no state, sets the node's snapshots and then its log aside. A crash
// (SIGKILL, power loss) between the two used to leave the log in place, retired up to
// snapshots that were no longer beside it: recovery failed (shard.ErrNoUsableState)
// until the primary came back, or the snapshots were moved back by hand. Here the
// set-aside's steps (each one rename or one directory sync) run on a copy of a node's
// own state and stop after each one, as a crash there would; then the node starts alone
// (no primary), its state from recovery on its own. Before the log's rename it must be
// the node's own state (its log and its snapshots); after it, an empty state with the
// set-aside pair complete (replaced-<stamp> holding the snapshots, <LogDir>.replaced-
// <stamp> the log), and no half-done set-aside left behind.
func TestSetAsideCrashAtEveryStepLeavesAUsableState(t *testing.T) {
	built, lastOp, want := ownStateRetired(t)
	const stamp = 17
	config := nodeConfig(built, "", "")
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 1 {
		t.Fatalf("setup: want one snapshot (%d, %v)", len(snapshots), err)
	}
	own := filepath.Base(snapshots[0].Path)
	steps, err := setAside{snapshotDir: config.Groups[0].SnapshotDir,
		logDir: config.Groups[0].LogDir, stamp: stamp}.steps()
	if err != nil {
		t.Fatal(err)
	}
	// mkdir, one rename, two syncs; the log's rename (the commit) and sync; the rename
	// of setting-aside-<stamp> and its sync.
	const logRenameStep = 4
	if len(steps) != 8 {
		t.Fatalf("setup: %d steps, want 8", len(steps))
	}
	for done := 0; done <= len(steps); done++ {
		t.Run(fmt.Sprintf("after %d steps", done), func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, built, dir)
			config := nodeConfig(dir, "", "")
			group := config.Groups[0]
			steps, err := setAside{snapshotDir: group.SnapshotDir, logDir: group.LogDir,
				stamp: stamp}.steps()
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range steps[:done] {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			restarted := startNode(t, config) // Fails on shard.ErrNoUsableState.
			defer restarted.Close()
			if leftover, _ := filepath.Glob(filepath.Join(group.SnapshotDir,
				settingAsidePrefix+"*")); len(leftover) != 0 {
				t.Fatalf("a half-done set-aside is left behind: %v", leftover)
			}
			if done <= logRenameStep {
				if got := restarted.Log().LastOp(); got != lastOp {
					t.Fatalf("the log ends at op %d, want the node's own %d", got, lastOp)
				}
				if restarted.Node.shardDigest(t) != want {
					t.Fatal("the state is not the node's own")
				}
				return
			}
			if got := restarted.Log().LastOp(); got != 0 {
				t.Fatalf("the log ends at op %d after its own was set aside, want empty", got)
			}
			kept := filepath.Join(group.SnapshotDir, fmt.Sprintf("%s%d", replacedPrefix, stamp),
				own)
			if _, err := os.Stat(kept); err != nil {
				t.Fatalf("the node's own snapshot is not kept aside: %v", err)
			}
			if _, err := os.Stat(logAsidePath(group.LogDir, stamp)); err != nil {
				t.Fatalf("the node's own log is not kept aside: %v", err)
			}
		})
	}
}
