package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// crossDeviceArchive returns an archive directory on another file system than the test's
// temporary directory (so Retire copies rather than renames), or skips where there is
// none (a host without a tmpfs /dev/shm).
func crossDeviceArchive(t *testing.T, logDir string) string {
	t.Helper()
	archive, err := os.MkdirTemp("/dev/shm", "reviewar45-archive-")
	if err != nil {
		t.Skipf("no /dev/shm for a cross-device archive: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(archive) })
	probe := filepath.Join(logDir, "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)
	if err := os.Rename(probe, filepath.Join(archive, "probe")); !errors.Is(err, syscall.EXDEV) {
		os.Remove(filepath.Join(archive, "probe"))
		t.Skipf("/dev/shm is on the log's file system (rename: %v)", err)
	}
	return archive
}

// TestRetireFinishesACrossDeviceCopyThatFailedHalfway (review ar45): a copy to an archive
// on another file system wrote straight into the segment's final name there. A copy cut
// short (the archive's disk full, here a file size limit; or a crash in the middle) left a
// prefix of the segment under that name, which every later Retire compared, found
// "different" and refused with ErrArchivedSegmentDiffers: retention stopped for good over
// a file that is only an unfinished copy of the very segment being retired. The copy must
// go to a temporary name and be renamed into place once whole, so that a retry finishes it.
func TestRetireFinishesACrossDeviceCopyThatFailedHalfway(t *testing.T) {
	l := retiringLog(t, filepath.Join(t.TempDir(), "log"))
	archive := crossDeviceArchive(t, l.options.Dir)
	first := l.segments[0]
	data, err := os.ReadFile(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	short := limit
	short.Cur = uint64(len(data) / 2)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &short); err != nil {
		t.Skipf("cannot lower the file size limit: %v", err)
	}
	retired, err := l.Retire(first.LastOp, archive)
	if restoreErr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); restoreErr != nil {
		t.Fatal(restoreErr)
	}
	if err == nil || retired != 0 {
		t.Fatalf("retired %d (%v) with a copy cut at half the segment, want 0 and an error",
			retired, err)
	}
	retired, err = l.Retire(first.LastOp, archive)
	if err != nil || retired != 1 {
		t.Fatalf("retired %d (%v) once the archive has room again, want 1", retired, err)
	}
	if now, err := os.ReadFile(filepath.Join(archive, filepath.Base(first.Path))); err != nil ||
		!bytes.Equal(now, data) {
		t.Errorf("the archived segment is not the whole segment (%v)", err)
	}
	if _, err := os.Stat(first.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the retired segment is still in the log (%v)", err)
	}
}

// TestRetireSyncsTheArchiveBeforeDeletingACopiedSegment (review ar45): across file
// systems, Retire fsynced the copy's data, deleted the log's segment and fsynced the
// archive directory only after every segment (after the log directory, too). Until that
// last fsync the copy's entry in the archive is not durable while the delete may already
// be: a power loss there loses the segment from both places. The archive directory must
// be synced while the log's copy still exists.
func TestRetireSyncsTheArchiveBeforeDeletingACopiedSegment(t *testing.T) {
	l := retiringLog(t, filepath.Join(t.TempDir(), "log"))
	archive := crossDeviceArchive(t, l.options.Dir)
	first := l.segments[0]
	var mutex sync.Mutex
	syncedWhileInLog := false
	hook := func(at string) error {
		mutex.Lock()
		defer mutex.Unlock()
		if at == archive {
			if _, err := os.Stat(first.Path); err == nil {
				syncedWhileInLog = true
			}
		}
		return nil
	}
	testHookSyncDirectory.Store(&hook)
	t.Cleanup(func() { testHookSyncDirectory.Store(nil) })
	if retired, err := l.Retire(first.LastOp, archive); err != nil || retired != 1 {
		t.Fatalf("retired %d (%v), want 1", retired, err)
	}
	mutex.Lock()
	defer mutex.Unlock()
	if !syncedWhileInLog {
		t.Error("the archive directory was not fsynced before the log's copy was deleted")
	}
}

// TestRetireAfterCloseLeavesTheDirectoryAlone (review ar45): the shard's snapshot writer
// runs on its own goroutine, which Shard.Close does not wait for, and calls Retire after
// its snapshot is written. Replication's start over closes the shard and the log, renames
// the log directory aside and opens a new log under the same name, numbered from 1 again:
// a Retire of the closed log, still holding the old segment paths, then moved the new
// log's segment 1 into the archive (and, with the archive's own set-aside already done,
// mixed histories in it again). A closed log must not retire.
func TestRetireAfterCloseLeavesTheDirectoryAlone(t *testing.T) {
	root := t.TempDir()
	dir, archive := filepath.Join(root, "log"), filepath.Join(root, "archive")
	old := retiringLog(t, dir)
	covered := old.segments[1].LastOp
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".replaced-1"); err != nil {
		t.Fatal(err)
	}
	fresh := openTest(t, dir)
	t.Cleanup(func() { fresh.Close() })
	waitDurable(t, fresh, appendEntries(t, fresh, 10))
	firstOfFresh := fresh.segments[0].Path
	before, err := os.ReadFile(firstOfFresh)
	if err != nil {
		t.Fatal(err)
	}
	retired, err := old.Retire(covered, archive)
	if retired != 0 || !errors.Is(err, ErrClosed) {
		t.Errorf("the closed log retired %d (%v), want 0 and ErrClosed", retired, err)
	}
	if now, err := os.ReadFile(firstOfFresh); err != nil || !bytes.Equal(now, before) {
		t.Errorf("the new log's first segment was taken by the closed log's Retire (%v)", err)
	}
}
