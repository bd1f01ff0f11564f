package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// Claim (review-leftovers52): since session 52 every file a node writes for its data is
// created with FileMode (0600), and only files made before keep their mode. But a file
// written through a temporary name reused the temporary that a crash of an older build
// left (made 0644): opened with O_CREATE|O_TRUNC, it keeps its mode, and the new file
// renamed from it is 0644. WriteFileDurably (snapshots, the epoch, the witness ratchet,
// the shard map, a received snapshot) and an archive copy across file systems (whose
// ".partial" leftover "the next retirement truncates") must make their file FileMode.

// leftoverOfAnOlderBuild writes path as an older build's crash left it: mode 0644.
func leftoverOfAnOlderBuild(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("cut short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // Whatever the umask.
		t.Fatal(err)
	}
}

// modeOf returns the permission bits of the file at path.
func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	stat, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return stat.Mode().Perm()
}

func TestWriteFileDurablyOverALeftoverTemporaryIsFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	leftoverOfAnOlderBuild(t, path+temporarySuffix)
	err := WriteFileDurably(path, FileMode, func(file *os.File) error {
		_, err := file.WriteString("7\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := modeOf(t, path); got != FileMode {
		t.Fatalf("a file written over an older build's leftover temporary is mode %#o, "+
			"want %#o", got, FileMode)
	}
}

func TestArchiveCopyOverALeftoverPartialIsFileMode(t *testing.T) {
	l := retiringLog(t, filepath.Join(t.TempDir(), "log"))
	archive := crossDeviceArchive(t, l.options.Dir)
	first := l.segments[0]
	target := filepath.Join(archive, filepath.Base(first.Path))
	leftoverOfAnOlderBuild(t, target+archivePartialSuffix)
	retired, err := l.Retire(first.LastOp, archive)
	if err != nil || retired != 1 {
		t.Fatalf("retired %d (%v), want 1", retired, err)
	}
	if got := modeOf(t, target); got != FileMode {
		t.Fatalf("an archive copy made over an older build's leftover partial copy is mode "+
			"%#o, want %#o", got, FileMode)
	}
}
