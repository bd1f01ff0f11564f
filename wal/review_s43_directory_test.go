package wal

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestOpenMakesANewLogDirectoryDurable: Open creates a missing log directory (a new node,
// or a standby whose start over or truncation renamed its log directory aside) and then
// fsyncs files and the log directory itself, but never the directory that holds the new
// one: after a power loss the new directory's entry may be gone, and with it every entry
// written and acknowledged since (after a set-aside the old name is durably the
// set-aside's, so the log reopens empty). Open must fsync the parent of every directory
// it makes before it returns.
func TestOpenMakesANewLogDirectoryDurable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data", "log")
	syncedSoFar := recordDirectorySyncs(t)
	l, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	synced := syncedSoFar()
	for _, parent := range []string{filepath.Dir(dir), root} {
		if !slices.Contains(synced, parent) {
			t.Errorf("Open made a directory in %s but did not fsync it (synced %v)",
				parent, synced)
		}
	}
}
