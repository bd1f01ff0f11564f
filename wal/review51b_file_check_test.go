package wal

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestSnapshotFileCheckTellsAWholeFileFromADamagedOne (review of hunt51b): a replication
// primary checks the snapshot file it sends, in the chunks it sends it in: a whole file
// passes, a flipped body byte or a short copy is ErrSnapshotCorrupt.
func TestSnapshotFileCheckTellsAWholeFileFromADamagedOne(t *testing.T) {
	info, err := WriteSnapshot(t.TempDir(), SnapshotMeta{Op: 9},
		bytes.NewReader(bytes.Repeat([]byte("state "), 5000)))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	send := func(b []byte, chunk int) error {
		check, err := NewSnapshotFileCheck(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			n := min(chunk, len(b))
			check.Write(b[:n])
			b = b[n:]
		}
		return check.Err()
	}
	for _, chunk := range []int{1, 7, 128, 1 << 20} {
		if err := send(file, chunk); err != nil {
			t.Fatalf("chunks of %d: a whole file: %v", chunk, err)
		}
	}
	damaged := bytes.Clone(file)
	damaged[len(damaged)-3] ^= 0xFF
	if err := send(damaged, 100); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("a damaged body: %v, want ErrSnapshotCorrupt", err)
	}
	if err := send(file[:len(file)-1], 100); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("a short copy: %v, want ErrSnapshotCorrupt", err)
	}
}
