package wal

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

// TestWriteSnapshotMakesANewDirectoryDurable (hunt51b): the first snapshot of a node
// makes its snapshot directory (DATA/snapshots, DATA/shard-n/snapshots: the shard's
// directory too on a new node) and fsyncs it after the rename, but that keeps the
// directory's entries, not its own entry in its parent. The shard then retires the log
// behind the snapshot (log directory fsynced): after a power loss the snapshot
// directory, and the snapshot in it, may be gone while the segments it covered are gone
// too, and the node cannot start (no usable state for a log that starts after op 1).
// WriteSnapshot must fsync the parent of every directory it makes, as the log's and
// the archive's directories are made.
func TestWriteSnapshotMakesANewDirectoryDurable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "shard-1", "snapshots")
	syncedSoFar := recordDirectorySyncs(t)
	if _, err := WriteSnapshot(dir, SnapshotMeta{Op: 5}, bytes.NewReader([]byte("state"))); err != nil {
		t.Fatal(err)
	}
	synced := syncedSoFar()
	for _, parent := range []string{filepath.Dir(dir), root, dir} {
		if !slices.Contains(synced, parent) {
			t.Errorf("WriteSnapshot into the new %s did not fsync %s (synced %v)", dir,
				parent, synced)
		}
	}
}
