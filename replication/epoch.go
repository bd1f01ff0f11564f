package replication

import (
	"errors"
	"fmt"
	"os"
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
// no shard can hold is refused, the file left as it was.
func StoreEpoch(path string, epoch uint64) error {
	if err := checkEpoch(epoch); err != nil {
		return fmt.Errorf("replication: store epoch: %w", err)
	}
	err := wal.WriteFileDurably(path, 0o644, func(file *os.File) error {
		_, err := file.WriteString(strconv.FormatUint(epoch, 10) + "\n")
		return err
	})
	if err != nil {
		return fmt.Errorf("replication: store epoch %d: %w", epoch, err)
	}
	return nil
}
