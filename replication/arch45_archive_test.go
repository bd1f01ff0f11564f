package replication

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSetAsideCrashAtEveryStepKeepsTheArchive: a set-aside (start over, or a truncation
// that leaves no state) moves the segments archived from the old log (--wal-archive) into
// the archive's replaced-<stamp> once the log is aside, so that the new log, numbered
// from segment 1 again, never retires onto them. A crash after any step must leave them
// whole: in the archive itself while the old log is in place (it goes on retiring there),
// and in replaced-<stamp> once the log is aside, the restart (finishSetAsides) completing
// a move that the crash cut short; none left in the archive beside the new history.
func TestSetAsideCrashAtEveryStepKeepsTheArchive(t *testing.T) {
	built, _, _ := ownStateRetired(t)
	const stamp = 17
	archived := map[string][]byte{ // As the old log's retirements left them.
		"00000000000000000001.wal": []byte("segment 1 of the old history"),
		"00000000000000000002.wal": []byte("segment 2 of the old history"),
	}
	// The snapshots' mkdir, one rename, two syncs; the log's rename (the commit) and
	// sync; the archive's move; the rename of setting-aside-<stamp> and its sync.
	const logRenameStep, stepCount = 4, 9
	for done := 0; done <= stepCount; done++ {
		t.Run(fmt.Sprintf("after %d steps", done), func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, built, dir)
			archive := filepath.Join(dir, "archive")
			if err := os.Mkdir(archive, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, data := range archived {
				if err := os.WriteFile(filepath.Join(archive, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			config := retiringSnapshots(nodeConfig(dir, "", ""), 1)
			config.Snapshots.ArchiveDir = archive
			group := config.Groups[0]
			steps, err := setAside{snapshotDir: group.SnapshotDir, logDir: group.LogDir,
				archiveDir: archive, stamp: stamp}.steps()
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != stepCount {
				t.Fatalf("setup: %d steps, want %d", len(steps), stepCount)
			}
			for _, step := range steps[:done] {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			restarted := startNode(t, config)
			defer restarted.Close()
			keptAt := filepath.Join(archive, fmt.Sprintf("%s%d", replacedPrefix, stamp))
			if done <= logRenameStep {
				keptAt = archive
			} else if now := segmentFiles(t, archive); len(now) != 0 {
				t.Errorf("%d segments of the old history are still in the archive beside "+
					"the new log's", len(now))
			}
			now := segmentFiles(t, keptAt)
			for name, data := range archived {
				if !bytes.Equal(now[name], data) {
					t.Errorf("archived segment %s is not whole in %s", name, keptAt)
				}
			}
		})
	}
}
