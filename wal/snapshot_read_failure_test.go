package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// sectorFailingReader reads r until failAfter bytes were read, then fails with err: a file
// whose sector at that place cannot be read (EIO), or a read failing for another reason.
type sectorFailingReader struct {
	r         io.Reader
	failAfter int
	read      int
	err       error
}

func (f *sectorFailingReader) Read(p []byte) (int, error) {
	if f.read >= f.failAfter {
		return 0, f.err
	}
	n, err := f.r.Read(p[:min(len(p), f.failAfter-f.read)])
	f.read += n
	return n, err
}

// TestSnapshotReadFailureTellsABadSectorFromOtherErrors: a sender copying a snapshot file
// in chunks (as a replication primary does) through a reader that fails in the middle of
// the body: EIO (the device cannot read those bytes) is damage, ErrSnapshotCorrupt, so the
// file is marked and offered no more rather than offered for ever; another error (here
// ENOMEM, or a closed file) is not damage and comes back unchanged; a file that reads
// whole gives no error, and a damaged file's check still says so at the end.
func TestSnapshotReadFailureTellsABadSectorFromOtherErrors(t *testing.T) {
	state := make([]byte, 300_000) // Incompressible: the body holds most of the file.
	for i, x := 0, uint32(1); i < len(state); i++ {
		x = x*1664525 + 1013904223
		state[i] = byte(x >> 24)
	}
	info, err := WriteSnapshot(t.TempDir(), SnapshotMeta{Op: 9}, bytes.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	const chunkBytes = 4096
	// send copies r in chunks through a check, as the primary sends a snapshot, and
	// returns the first problem: the classified read error, or the check's at the end.
	send := func(r io.Reader) error {
		check, err := NewSnapshotFileCheck(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, chunkBytes)
		for offset := int64(0); ; {
			n, err := io.ReadFull(r, chunk)
			check.Write(chunk[:n])
			offset += int64(n)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return check.Err()
			}
			if err != nil {
				return SnapshotReadFailure(info.Path, offset, err)
			}
		}
	}
	middle := len(file) / 2
	if middle < snapshotHeaderSize+chunkBytes {
		t.Fatalf("a file of %d bytes: its middle is not in the body", len(file))
	}
	if err := send(bytes.NewReader(file)); err != nil {
		t.Fatalf("a file that reads whole: %v", err)
	}
	badSector := &os.PathError{Op: "read", Path: info.Path, Err: syscall.EIO}
	err = send(&sectorFailingReader{r: bytes.NewReader(file), failAfter: middle, err: badSector})
	if !errors.Is(err, ErrSnapshotCorrupt) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("EIO in the middle of the body: %v, want ErrSnapshotCorrupt wrapping EIO", err)
	}
	for _, other := range []error{&os.PathError{Op: "read", Path: info.Path,
		Err: syscall.ENOMEM}, os.ErrClosed} {
		err = send(&sectorFailingReader{r: bytes.NewReader(file), failAfter: middle, err: other})
		if errors.Is(err, ErrSnapshotCorrupt) || !errors.Is(err, other) {
			t.Fatalf("%v in the middle of the body: %v, want it unchanged, not damage",
				other, err)
		}
	}
	damaged := bytes.Clone(file)
	damaged[middle] ^= 0xFF
	if err := send(bytes.NewReader(damaged)); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("a flipped body byte (file of %d bytes): %v, want ErrSnapshotCorrupt", len(file), err)
	}
	if err := SnapshotReadFailure(info.Path, 0, nil); err != nil {
		t.Fatalf("no error: %v", err)
	}
}
