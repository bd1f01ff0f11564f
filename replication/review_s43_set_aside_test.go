package replication

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/wal"
)

// TestStartOverAfterTheClockWentBackKeepsItsOwnSetAside: set-asides are stamped with the
// wall clock and pruned to the newest setAsideKept by stamp. Three set-asides left while
// the clock was ahead (an hour here: a clock stepped back by NTP, a board booted with a
// wrong RTC) outrank every later stamp, so the prune that follows a start over removed
// the set-aside the start over had just made, the node's own log and snapshots, and kept
// the three stale ones. The newest set-aside must be the one just made, whatever the
// clock says, and it must survive its own prune.
func TestStartOverAfterTheClockWentBackKeepsItsOwnSetAside(t *testing.T) {
	snapshotAlone := func(dir string, ids ...uint64) *testNode {
		config := nodeConfig(dir, freeAddress(t), "")
		config.Mode = ModeAsync
		written := make(chan shard.SnapshotResult, 1)
		config.Snapshots = &shard.SnapshotConfig{
			OnWritten: func(r shard.SnapshotResult) { written <- r }}
		n := startNode(t, config)
		waitSnapshot(t, n, written, ids...)
		return n
	}
	nodeDir := t.TempDir()
	snapshotAlone(nodeDir, 1, 2).Close() // The node's own history, with a snapshot.
	primary := snapshotAlone(t.TempDir(), 3, 4)
	defer primary.Close()
	config := nodeConfig(nodeDir, "", primary.config.Listen)
	group := config.Groups[0]
	ownSegments, err := filepath.Glob(filepath.Join(group.LogDir, "*"))
	if err != nil || len(ownSegments) == 0 {
		t.Fatalf("setup: the node's own log has no file (%v)", err)
	}
	ahead := time.Now().Add(time.Hour).UnixNano()
	seedSetAsides(t, group, []int64{ahead, ahead + 1, ahead + 2}, nil, 10)

	standby := startNode(t, config)
	defer standby.Close()
	stamps, paths := setAsideStamps(group.SnapshotDir, group.LogDir)
	if len(stamps) != setAsideKept {
		t.Fatalf("set-asides kept: %v, want %d", stamps, setAsideKept)
	}
	// The start over's set-aside holds the node's own log: its segment files, where a
	// seeded one holds only "file".
	keptOwnLog := false
	for _, stamp := range stamps {
		for _, path := range paths[stamp] {
			if _, err := os.Stat(filepath.Join(path, filepath.Base(ownSegments[0]))); err == nil &&
				filepath.Dir(path) == filepath.Dir(group.LogDir) {
				keptOwnLog = stamp == stamps[0]
			}
		}
	}
	if !keptOwnLog {
		t.Fatalf("the start over's set-aside (the node's own log) is not the newest kept: "+
			"kept %v (the seeded stamps start at %d)", stamps, ahead)
	}
	if snapshots, err := wal.ListSnapshots(group.SnapshotDir); err != nil || len(snapshots) != 1 {
		t.Fatalf("the start over left %d snapshots (%v), want the primary's", len(snapshots), err)
	}
}
