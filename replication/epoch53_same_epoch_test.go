package replication

import (
	"os"
	"path/filepath"
	"testing"

	"sequent/wal"
)

// countWrites makes StoreEpoch's durable write count its calls (and still write).
func countWrites(t *testing.T) *int {
	t.Helper()
	var writes int
	t.Cleanup(func() { writeFileDurably = wal.WriteFileDurably })
	writeFileDurably = func(path string, perm os.FileMode, write func(*os.File) error) error {
		writes++
		return wal.WriteFileDurably(path, perm, write)
	}
	return &writes
}

// TestStoreEpochSameEpochDoesNotRewrite: every start stores the epoch it recovered; a
// file that already holds exactly that epoch must not be rewritten (a temporary file needs
// a free block: a node that crashed on a full disk could not restart, hunt53c), while a
// different epoch still is. Before the fix the same epoch was written again.
func TestStoreEpochSameEpochDoesNotRewrite(t *testing.T) {
	directory := t.TempDir()
	path := filepath.Join(directory, "epoch")
	writes := countWrites(t)
	if err := StoreEpoch(path, 5); err != nil {
		t.Fatal(err)
	}
	if *writes != 1 {
		t.Fatalf("first store: %d writes, want 1", *writes)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := StoreEpoch(path, 5); err != nil {
		t.Fatalf("StoreEpoch of the epoch the file holds: %v", err)
	}
	if *writes != 1 {
		t.Fatalf("StoreEpoch of the epoch the file holds wrote it again (%d writes)", *writes)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("StoreEpoch of the epoch the file holds replaced the file")
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file after storing the same epoch: %v, want none", err)
	}
	if err := StoreEpoch(path, 6); err != nil {
		t.Fatal(err)
	}
	if *writes != 2 {
		t.Fatalf("StoreEpoch of a new epoch: %d writes, want 2", *writes)
	}
	if epoch, err := LoadEpoch(path); err != nil || epoch != 6 {
		t.Fatalf("epoch after storing 6: %d, %v", epoch, err)
	}
}

// TestStoreEpochSameEpochOtherBytesRewrites: only a byte-for-byte match skips the write; a
// file that parses to the same epoch in another form (no newline, a leading zero, spaces)
// is rewritten in the canonical form.
func TestStoreEpochSameEpochOtherBytesRewrites(t *testing.T) {
	for _, content := range []string{"7", "07\n", " 7\n", "7\n\n"} {
		path := filepath.Join(t.TempDir(), "epoch")
		if err := os.WriteFile(path, []byte(content), wal.FileMode); err != nil {
			t.Fatal(err)
		}
		writes := countWrites(t)
		if err := StoreEpoch(path, 7); err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if *writes != 1 {
			t.Fatalf("%q: %d writes, want 1", content, *writes)
		}
		if data, err := os.ReadFile(path); err != nil || string(data) != "7\n" {
			t.Fatalf("%q: file holds %q (%v), want \"7\\n\"", content, data, err)
		}
	}
}

// TestStoreEpochSameEpochOnAReadOnlyDirectory: the same epoch stored where nothing can be
// created (the directory read-only, standing for a full file system) succeeds; a new one
// fails and leaves the file as it was. Skipped as root, whom permissions do not stop.
func TestStoreEpochSameEpochOnAReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	directory := t.TempDir()
	path := filepath.Join(directory, "epoch")
	if err := StoreEpoch(path, 2); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(directory, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(directory, 0o700) })
	if err := StoreEpoch(path, 2); err != nil {
		t.Fatalf("StoreEpoch of the epoch the file holds, directory read-only: %v", err)
	}
	if err := StoreEpoch(path, 3); err == nil {
		t.Fatal("StoreEpoch of a new epoch succeeded in a read-only directory")
	}
	if epoch, err := LoadEpoch(path); err != nil || epoch != 2 {
		t.Fatalf("epoch after the refused store: %d, %v; want 2", epoch, err)
	}
}
