package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sequent/core/shardmap"
	"sequent/wal"
)

// ShardMapFileName is the file in a data directory that records its shard map.
const ShardMapFileName = "SHARDMAP"

// ErrShardMapMismatch reports a node started with a map other than its data directory's
// (another --shards or placement than the directory was created with, or a standby
// configured unlike its primary). Resharding an existing directory is not supported.
var ErrShardMapMismatch = errors.New("node: the shard map differs from the data directory's")

// RecordShardMap records the map in a new data directory (durably: written whole or not
// at all) and, in one that has a map already, checks that it is the same. A damaged
// record is an error, never silently replaced.
func RecordShardMap(dir string, placement *shardmap.Map) error {
	path := filepath.Join(dir, ShardMapFileName)
	recorded, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		encoded := placement.Encode()
		return wal.WriteFileDurably(path, 0o644, func(file *os.File) error {
			_, err := file.Write(encoded)
			return err
		})
	}
	if err != nil {
		return err
	}
	stored, err := shardmap.Decode(recorded)
	if err != nil {
		return fmt.Errorf("node: %s: %w", path, err)
	}
	if !stored.Equal(placement) {
		return fmt.Errorf("%w: %s records %s; this node was given %s", ErrShardMapMismatch,
			path, stored, placement)
	}
	return nil
}
