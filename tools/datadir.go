package tools

import "path/filepath"

// Layout of a data directory (`sequent serve --data DIR`), shared by the server and the
// offline tools so they agree on where things are.
const (
	LogDirName      = "log"       // Write-ahead log segments.
	SnapshotDirName = "snapshots" // Snapshot files.
	KeysFileName    = "keys.json" // Development keys generated on first start.
	EpochFileName   = "epoch"     // Failover epoch, persisted on promotion.
)

// LogDir returns the log directory of a data directory.
func LogDir(data string) string { return filepath.Join(data, LogDirName) }

// SnapshotDir returns the snapshot directory of a data directory.
func SnapshotDir(data string) string { return filepath.Join(data, SnapshotDirName) }

// KeysPath returns the path of the generated keys file of a data directory.
func KeysPath(data string) string { return filepath.Join(data, KeysFileName) }
