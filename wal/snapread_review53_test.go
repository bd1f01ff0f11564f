package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// failingAfter reads up to n bytes of r, then fails every read with err.
type failingAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// failHeaderRead makes the header read of the snapshot at path fail with err after 10
// bytes, for the rest of the test (or until stopped).
func failHeaderRead(t *testing.T, path string, err error) {
	t.Helper()
	hook := func(at string, file io.Reader) io.Reader {
		if at != path {
			return file
		}
		return &failingAfter{r: file, n: 10, err: err}
	}
	testHookSnapshotHeaderRead.Store(&hook)
	t.Cleanup(func() { testHookSnapshotHeaderRead.Store(nil) })
}

// Review 53 claim: readSnapshotHeader threw its read error away (n, _ := io.ReadFull), so
// a header read failing for a passing reason (out of memory, interrupted) decoded as a
// short header: "file shorter than a snapshot header", ErrSnapshotCorrupt. The primary
// then marked a sound snapshot damaged for ever (sendSnapshot through
// NewSnapshotFileCheck), and a prune took it for damaged. Such an error is not damage.
func TestReview53HeaderReadPlainErrorIsNotDamage(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 10}, makeState(10, 1<<10))
	if err != nil {
		t.Fatal(err)
	}
	failHeaderRead(t, info.Path, syscall.ENOMEM)
	_, err = NewSnapshotFileCheck(info.Path)
	if err == nil || errors.Is(err, ErrSnapshotCorrupt) || errors.Is(err, ErrVersion) ||
		!errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("a header read failing with ENOMEM: %v, want ENOMEM and not damage", err)
	}
	infos, err := ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Err == nil || errors.Is(infos[0].Err, ErrSnapshotCorrupt) ||
		!errors.Is(infos[0].Err, syscall.ENOMEM) {
		t.Fatalf("listed as %+v, want its ENOMEM and not damage", infos)
	}
	if _, _, err := OpenSnapshot(info.Path); err == nil || errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("OpenSnapshot: %v, want the read error and not damage", err)
	}
}

// Review 53 (the other way): EIO reading the header is a bad sector, damage; a file
// genuinely shorter than a header is damage too.
func TestReview53HeaderReadEIOAndShortFileAreDamage(t *testing.T) {
	dir := t.TempDir()
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 10}, makeState(10, 1<<10))
	if err != nil {
		t.Fatal(err)
	}
	failHeaderRead(t, info.Path, &os.PathError{Op: "read", Path: info.Path, Err: syscall.EIO})
	if _, err := NewSnapshotFileCheck(info.Path); !errors.Is(err, ErrSnapshotCorrupt) ||
		!errors.Is(err, syscall.EIO) {
		t.Fatalf("a header read failing with EIO: %v, want damage (and the EIO)", err)
	}
	testHookSnapshotHeaderRead.Store(nil)
	if _, err := NewSnapshotFileCheck(info.Path); err != nil {
		t.Fatalf("the same file read whole: %v", err)
	}
	short := filepath.Join(dir, snapshotName(20))
	if err := os.WriteFile(short, []byte("SEQSNAP short file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSnapshotFileCheck(short); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("a file shorter than a header: %v, want damage", err)
	}
}

// Review 53 claim: a prune holding op 25 must keep the snapshot at op 20 whose header
// read failed with a passing error (as it keeps one whose open failed): it deleted it as
// damaged, and kept the older one at op 10 for the hold in its place.
func TestReview53PruneKeepsASnapshotWhoseHeaderReadFailed(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []uint64{10, 20, 30, 40} {
		if _, err := WriteSnapshot(dir, SnapshotMeta{Op: op}, makeState(op, 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	failHeaderRead(t, filepath.Join(dir, snapshotName(20)), syscall.ENOMEM)
	if err := PruneSnapshotsHolding(dir, 1, 25); err != nil {
		t.Fatal(err)
	}
	testHookSnapshotHeaderRead.Store(nil)
	infos, err := ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ops []uint64
	for _, info := range infos {
		ops = append(ops, info.Meta.Op)
	}
	if !slices.Contains(ops, 20) || !slices.Contains(ops, 40) {
		t.Fatalf("kept the snapshots at ops %v, want 40 and the unreadable one at 20", ops)
	}
}
