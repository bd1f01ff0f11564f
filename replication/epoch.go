package replication

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"sequent/core/shard"
	"sequent/wal"
)

// LoadEpoch reads the persisted epoch (0 if the file does not exist yet).
func LoadEpoch(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	epoch, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("replication: epoch file %s: %w", path, err)
	}
	if err := checkEpoch(epoch); err != nil {
		return 0, fmt.Errorf("replication: epoch file %s: %w", path, err)
	}
	return epoch, nil
}

// checkEpoch refuses an epoch no shard can hold (its role and epoch share one word), from
// whatever source (the epoch file, the witness, the primary's welcome), before the node
// stores or acts on it.
func checkEpoch(epoch uint64) error {
	if epoch > shard.EpochMax {
		return fmt.Errorf("epoch %d is above the highest a shard can hold (%d)", epoch,
			uint64(shard.EpochMax))
	}
	return nil
}

// StoreEpoch persists an epoch durably (temporary file, fsync, rename, directory fsync)
// before the caller acts on it: a node must never write entries of an epoch it could
// forget after a crash, nor forget that it promised not to follow an older one. An epoch
// no shard can hold is refused, the file left as it was. A file that already holds
// exactly this epoch is not rewritten, only fsynced (syncEpochFile): a start on a full disk
// stores the epoch it recovered.
//
// On an error the file is left as it was: a failure after the rename (the directory
// fsync) leaves the new epoch in the file while the caller goes on at the old one (a
// failed promotion follows on), and after a restart the node would greet its primary
// with the new epoch and fence it. So the previous content is put back, durably; if that
// fails too, the error says the file may be ahead of the node.
func StoreEpoch(path string, epoch uint64) error {
	if err := checkEpoch(epoch); err != nil {
		return fmt.Errorf("replication: store epoch: %w", err)
	}
	previous, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replication: store epoch %d: reading the previous one: %w", epoch,
			err)
	}
	content := strconv.FormatUint(epoch, 10) + "\n"
	if existed && string(previous) == content {
		if err := syncEpochFile(path); err != nil {
			return fmt.Errorf("replication: store epoch %d: %w", epoch, err)
		}
		return nil
	}
	err = writeFileDurably(path, wal.FileMode, func(file *os.File) error {
		_, err := file.WriteString(content)
		return err
	})
	if err == nil {
		return nil
	}
	if restoreErr := restoreEpochFile(path, previous, existed); restoreErr != nil {
		return fmt.Errorf("replication: store epoch %d: %w; %w (restoring the previous "+
			"content failed: %w): stop the node and check %s before restarting it", epoch,
			err, ErrEpochFileAhead, restoreErr, path)
	}
	return fmt.Errorf("replication: store epoch %d: %w", epoch, err)
}

// syncEpochFile makes durable an epoch file that already holds the epoch to store, without
// writing it: every start stores the epoch it recovered, and a rewrite (a temporary file)
// needs a free block, so a node that crashed on a full disk could not restart, even to
// serve reads (hunt53c). The file and its directory are still fsynced, in case the write
// or rename that put the epoch there never reached the disk before a crash.
func syncEpochFile(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := errors.Join(file.Sync(), file.Close()); err != nil {
		return err
	}
	return syncEpochDirectory(filepath.Dir(path))
}

// syncEpochDirectory is wal.SyncDirectory for syncEpochFile; a test replaces it to see
// that the directory is fsynced, or to fail that fsync.
var syncEpochDirectory = wal.SyncDirectory

// ErrEpochFileAhead marks a StoreEpoch that failed after its rename and could not put the
// previous content back either: the file may hold the new epoch while the caller goes on
// at the old one. A node must then stop (Node.Promote fails it): following its primary
// again, it would greet it with the file's epoch after a restart and fence it.
var ErrEpochFileAhead = errors.New("the epoch file may now be ahead of the node")

// writeFileDurably is wal.WriteFileDurably; a test replaces it to fail after the rename.
var writeFileDurably = wal.WriteFileDurably

// restoreFileDurably is wal.WriteFileDurably for restoreEpochFile; a test replaces it to
// fail the restore too.
var restoreFileDurably = wal.WriteFileDurably

// restoreEpochFile puts back what path held before a failed StoreEpoch (nothing when it
// did not exist), durably, unless it still holds exactly that.
func restoreEpochFile(path string, previous []byte, existed bool) error {
	current, err := os.ReadFile(path)
	switch {
	case err == nil && existed && bytes.Equal(current, previous):
		return nil // The failure came before the rename.
	case errors.Is(err, os.ErrNotExist) && !existed:
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
	if !existed {
		if err := os.Remove(path); err != nil {
			return err
		}
		return wal.SyncDirectory(filepath.Dir(path))
	}
	return restoreFileDurably(path, wal.FileMode, func(file *os.File) error {
		_, err := file.Write(previous)
		return err
	})
}
