package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRetireNeverReplacesAnArchivedSegment (review hb45): --wal-archive promises that
// retired segments are moved there instead of deleted, and hunt45b gave every shard its
// own archive directory because a rename replaces a file of the same name. The same
// clash happens within one shard: a standby that starts over from its primary's snapshot,
// or sets its own state aside before a truncation (replication's setAside), renames its
// log directory aside and opens an empty log there, which numbers its segments from 1
// again (StartAfter the snapshot's op). Its next retirement renamed the new 1.wal over
// the archived 1.wal of the old history: the archive silently lost segments it had been
// given, and what was left (the new 1.wal beside the old 2.wal, ...) is no log. An
// archived segment must never be replaced.
func TestRetireNeverReplacesAnArchivedSegment(t *testing.T) {
	dir, archive := t.TempDir(), t.TempDir()
	logDir := filepath.Join(dir, "log")
	l := openTest(t, logDir)
	last := appendEntries(t, l, 1600)
	waitDurable(t, l, last)
	if len(l.segments) < 4 {
		t.Fatalf("%d segments, need 4", len(l.segments))
	}
	if retired, err := l.Retire(l.segments[1].LastOp, archive); err != nil || retired != 2 {
		t.Fatalf("retired %d (%v), want 2", retired, err)
	}
	archived := map[string][]byte{}
	for _, name := range []string{segmentName(1), segmentName(2)} {
		data, err := os.ReadFile(filepath.Join(archive, name))
		if err != nil {
			t.Fatal(err)
		}
		archived[name] = data
	}
	chain := l.LastChain()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// The start over: the log directory goes aside, an empty log continues the chain.
	if err := os.Rename(logDir, logDir+".replaced-1"); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, logDir)
	defer l.Close()
	if err := l.StartAfter(last, chain); err != nil {
		t.Fatal(err)
	}
	last = appendEntries(t, l, 1600)
	waitDurable(t, l, last)
	if len(l.segments) < 4 {
		t.Fatalf("%d segments after the start over, need 4", len(l.segments))
	}
	_, _ = l.Retire(l.segments[1].LastOp, archive) // An error is fine; a loss is not.

	for name, data := range archived {
		now, err := os.ReadFile(filepath.Join(archive, name))
		if err != nil || !bytes.Equal(now, data) {
			t.Errorf("archived segment %s of the first history was replaced or removed "+
				"by a later retirement (%v)", name, err)
		}
	}
}
