package replication

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sequent/wal"
)

// failAfterRename makes StoreEpoch's durable write fail as a directory fsync after the
// rename does: the file already holds the new content, the call reports an error.
func failAfterRename(t *testing.T) error {
	t.Helper()
	failure := errors.New("injected: directory fsync failed after the rename")
	t.Cleanup(func() { writeFileDurably = wal.WriteFileDurably })
	writeFileDurably = func(path string, perm os.FileMode, write func(*os.File) error) error {
		file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			return err
		}
		if err := errors.Join(write(file), file.Close()); err != nil {
			return err
		}
		return failure
	}
	return failure
}

// TestStoreEpochFailedAfterRenameKeepsPreviousEpoch: a StoreEpoch that fails after its
// rename (directory fsync) must leave the file at the previous epoch, which the node goes
// on with (a failed promotion follows on); left at the new one, a restart would greet the
// live primary with it and fence it. Before the fix the file held the new epoch.
func TestStoreEpochFailedAfterRenameKeepsPreviousEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	if err := StoreEpoch(path, 3); err != nil {
		t.Fatal(err)
	}
	failure := failAfterRename(t)
	if err := StoreEpoch(path, 4); !errors.Is(err, failure) {
		t.Fatalf("StoreEpoch(4) with a failing directory fsync: %v, want the failure", err)
	}
	if epoch, err := LoadEpoch(path); err != nil || epoch != 3 {
		t.Fatalf("epoch file after the failed store: %d, %v; want 3", epoch, err)
	}
}

// TestStoreEpochFailedAfterRenameLeavesNoFile: the same failure on the first store (no
// file yet) must leave no file, so that the node still reads epoch 0.
func TestStoreEpochFailedAfterRenameLeavesNoFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	failure := failAfterRename(t)
	if err := StoreEpoch(path, 1); !errors.Is(err, failure) {
		t.Fatalf("StoreEpoch(1) with a failing directory fsync: %v, want the failure", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("epoch file after the failed first store: %v, want none", err)
	}
}
