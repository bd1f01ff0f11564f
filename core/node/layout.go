package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"sequent/core/shardmap"
	"sequent/wal"
)

// Names in a data directory (see Layout).
const (
	ShardMapFileName = "SHARDMAP"  // The shard map the directory was created with.
	EpochFileName    = "epoch"     // The node's failover epoch (one for all its shards).
	KeysFileName     = "keys.json" // Development keys generated on first start.
	LogDirName       = "log"       // A shard's write-ahead log segments.
	SnapshotDirName  = "snapshots" // A shard's snapshot files.
	shardDirPrefix   = "shard-"    // Shard n ≥ 1 keeps its log and snapshots in shard-n.
)

// WitnessRatchetFileName marks that the node has received signed witness answers
// (replication's signed-replies ratchet, which names the file the same).
const WitnessRatchetFileName = "witness-signed"

// Layout is where things are in a data directory (`sequent serve --data DIR`), shared by
// the server and the offline tools (`wal inspect|verify`, reconcile) so that they agree:
//
//	DIR/SHARDMAP                       the shard map (RecordShardMap)
//	DIR/epoch                          the node's failover epoch
//	DIR/keys.json                      development keys, generated on first start
//	DIR/witness-signed                 the witness has signed its answers (replication)
//	DIR/log, DIR/snapshots             shard 0's log and snapshots
//	DIR/shard-N/log, .../snapshots     shard N's, for N ≥ 1
//
// Shard 0 keeps the places a one-shard node always used, so a directory created before
// shards existed is a one-shard directory as it stands.
type Layout struct{ Dir string }

// LogDir returns shard index's log directory.
func (l Layout) LogDir(index int) string {
	return filepath.Join(l.shardDir(index), LogDirName)
}

// SnapshotDir returns shard index's snapshot directory.
func (l Layout) SnapshotDir(index int) string {
	return filepath.Join(l.shardDir(index), SnapshotDirName)
}

func (l Layout) shardDir(index int) string {
	if index == 0 {
		return l.Dir
	}
	return filepath.Join(l.Dir, shardDirPrefix+strconv.Itoa(index))
}

// EpochPath returns the path of the epoch file.
func (l Layout) EpochPath() string { return filepath.Join(l.Dir, EpochFileName) }

// WitnessRatchetPath returns the path of the signed-replies ratchet's marker.
func (l Layout) WitnessRatchetPath() string {
	return filepath.Join(l.Dir, WitnessRatchetFileName)
}

// KeysPath returns the path of the generated keys file.
func (l Layout) KeysPath() string { return filepath.Join(l.Dir, KeysFileName) }

// ShardMapPath returns the path of the shard map record.
func (l Layout) ShardMapPath() string { return filepath.Join(l.Dir, ShardMapFileName) }

// ErrShardMapMismatch reports a node started with a map other than its data directory's
// (another --shards or placement than the directory was created with, or a standby
// configured unlike its primary). Resharding an existing directory is not supported.
var ErrShardMapMismatch = errors.New("node: the shard map differs from the data directory's")

// ReadShardMap returns the map recorded in the directory: the recorded one, the
// one-shard map for a directory whose shard 0 has a log but no record (created before
// shards existed), or nil for a new directory. A damaged record is an error.
func (l Layout) ReadShardMap() (*shardmap.Map, error) {
	recorded, err := os.ReadFile(l.ShardMapPath())
	if errors.Is(err, fs.ErrNotExist) {
		if entries, err := os.ReadDir(l.LogDir(0)); err == nil && len(entries) > 0 {
			return shardmap.Single(), nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	stored, err := shardmap.Decode(recorded)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", l.ShardMapPath(), err)
	}
	return stored, nil
}

// RecordShardMap records the map in a new data directory (durably: written whole or not
// at all) and, in one that has a map already, checks that it is the same.
func (l Layout) RecordShardMap(placement *shardmap.Map) error {
	stored, err := l.ReadShardMap()
	switch {
	case err != nil:
		return err
	case stored != nil && !stored.Equal(placement):
		return fmt.Errorf("%w: %s was created with %s; this node was given %s (resharding an "+
			"existing directory is not supported)", ErrShardMapMismatch, l.Dir, stored, placement)
	case stored != nil:
		if _, err := os.Stat(l.ShardMapPath()); err == nil {
			return nil
		}
	}
	// Made with its parent synced: the logs and snapshots made inside a new data
	// directory sync their own directories, which keeps nothing if the data directory's
	// entry is lost in a crash.
	if err := wal.MakeDirectoryDurably(l.Dir); err != nil {
		return err
	}
	encoded := placement.Encode()
	return wal.WriteFileDurably(l.ShardMapPath(), wal.FileMode, func(file *os.File) error {
		_, err := file.Write(encoded)
		return err
	})
}
