package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// retiringLog returns a durable log in dir with at least four segments, for retirements.
func retiringLog(t *testing.T, dir string) *Log {
	t.Helper()
	l := openTest(t, dir)
	t.Cleanup(func() { l.Close() })
	waitDurable(t, l, appendEntries(t, l, 1600))
	if len(l.segments) < 4 {
		t.Fatalf("%d segments, need 4", len(l.segments))
	}
	return l
}

// TestRetireKeepsAnIdenticalArchivedCopy: a crash between the copy of a retiring segment
// to an archive on another file system and the delete of the segment leaves the same
// file in both places; the retirement that follows the restart must finish (delete the
// log's copy) rather than stop on the archive's, while a file of the same name with other
// content stops it (ErrArchivedSegmentDiffers) and stays as it was.
func TestRetireKeepsAnIdenticalArchivedCopy(t *testing.T) {
	l, archive := retiringLog(t, filepath.Join(t.TempDir(), "log")), t.TempDir()
	first := l.segments[0].Path
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(archive, filepath.Base(first)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if retired, err := l.Retire(l.segments[1].LastOp, archive); err != nil || retired != 2 {
		t.Fatalf("retired %d (%v) with an identical copy archived, want 2", retired, err)
	}
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the retired segment is still in the log (%v)", err)
	}
	if now, err := os.ReadFile(filepath.Join(archive, filepath.Base(first))); err != nil ||
		!bytes.Equal(now, data) {
		t.Errorf("the archived copy changed (%v)", err)
	}

	// The next segment's name taken by other content in the archive: the retirement stops.
	next := l.segments[0]
	other := []byte("another history's segment")
	otherPath := filepath.Join(archive, filepath.Base(next.Path))
	if err := os.WriteFile(otherPath, other, 0o644); err != nil {
		t.Fatal(err)
	}
	retired, err := l.Retire(next.LastOp, archive)
	if retired != 0 || !errors.Is(err, ErrArchivedSegmentDiffers) {
		t.Fatalf("retired %d (%v), want 0 and ErrArchivedSegmentDiffers", retired, err)
	}
	if now, _ := os.ReadFile(otherPath); !bytes.Equal(now, other) {
		t.Error("the archive's different file was replaced")
	}
	if _, err := os.Stat(next.Path); err != nil || l.segments[0].Path != next.Path {
		t.Errorf("the refused segment left the log (%v)", err)
	}
}

// TestRetireMakesANewArchiveDirectoryDurable: the first retirement into an archive makes
// its directory (DIR/shard-n: DIR too on a new node) and fsyncs it after renaming the
// segments in, but an fsync of a directory keeps its entries, not its own entry in its
// parent: after a power loss DIR/shard-n, and every segment moved there (gone from the
// log), may be lost. Retire must fsync the parent of every directory it makes.
func TestRetireMakesANewArchiveDirectoryDurable(t *testing.T) {
	root := t.TempDir()
	l := retiringLog(t, filepath.Join(root, "log"))
	archive := filepath.Join(root, "archive", "shard-1")
	syncedSoFar := recordDirectorySyncs(t)
	if retired, err := l.Retire(l.segments[0].LastOp, archive); err != nil || retired != 1 {
		t.Fatalf("retired %d (%v), want 1", retired, err)
	}
	synced := syncedSoFar()
	for _, parent := range []string{filepath.Dir(archive), root} {
		if !slices.Contains(synced, parent) {
			t.Errorf("Retire made a directory in %s but did not fsync it (synced %v)",
				parent, synced)
		}
	}
}

// recordDirectorySyncs records every directory SyncDirectory fsyncs until the test ends;
// the function returned gives those recorded so far.
func recordDirectorySyncs(t *testing.T) func() []string {
	t.Helper()
	var mutex sync.Mutex
	var synced []string
	hook := func(at string) error {
		mutex.Lock()
		defer mutex.Unlock()
		synced = append(synced, at)
		return nil
	}
	testHookSyncDirectory.Store(&hook)
	t.Cleanup(func() { testHookSyncDirectory.Store(nil) })
	return func() []string {
		mutex.Lock()
		defer mutex.Unlock()
		return slices.Clone(synced)
	}
}

// TestSetArchivedSegmentsAsideMovesEverySegment: the archive's segments all move into the
// set-aside directory, byte for byte, and nothing else does; a second call (a restart
// after a crash once they moved) finds nothing to do.
func TestSetArchivedSegmentsAsideMovesEverySegment(t *testing.T) {
	l, archive := retiringLog(t, filepath.Join(t.TempDir(), "log")), t.TempDir()
	if _, err := l.Retire(l.segments[1].LastOp, archive); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, name := range []string{segmentName(1), segmentName(2)} {
		data, err := os.ReadFile(filepath.Join(archive, name))
		if err != nil {
			t.Fatal(err)
		}
		before[name] = data
	}
	notes := filepath.Join(archive, "README.txt")
	if err := os.WriteFile(notes, []byte("operator's notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(archive, "replaced-7")
	for range 2 {
		if err := SetArchivedSegmentsAside(archive, aside); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range before {
		if now, err := os.ReadFile(filepath.Join(aside, name)); err != nil || !bytes.Equal(now, data) {
			t.Errorf("%s not set aside whole (%v)", name, err)
		}
		if _, err := os.Stat(filepath.Join(archive, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in the archive (%v)", name, err)
		}
	}
	if _, err := os.Stat(notes); err != nil {
		t.Errorf("a file that is no segment moved: %v", err)
	}
}
