package shard

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"sequent/core"
	"sequent/wal"
)

// LogReader is what recovery needs from the log.
type LogReader interface {
	Read(afterOp uint64, fn func(e *wal.Entry) error) error
	FirstOp() uint64
	LastOp() uint64
}

// RecoveryReport says how the state was rebuilt.
type RecoveryReport struct {
	SnapshotPath     string        // Snapshot loaded ("" if none).
	SnapshotOp       uint64        // Op of that snapshot.
	SnapshotLoad     time.Duration // Time to read and restore it.
	SkippedSnapshots []string      // Newer snapshots that could not be used, with reasons.
	ReplayedEntries  uint64        // Log entries applied after the snapshot.
	ReplayedOps      uint64        // Ops in them.
	Replay           time.Duration // Time to replay them.
	OpLast           uint64        // Op the machine ends at.
}

// ErrLogBehindSnapshot reports a log that ends before the newest snapshot: its tail was
// lost, and recovery refuses to start rather than go back in time.
var ErrLogBehindSnapshot = errors.New("shard: the log ends before the newest snapshot")

// ErrNoUsableState reports that the log starts after op 1 and no snapshot covers the gap.
var ErrNoUsableState = errors.New("shard: no usable snapshot for a log that starts after op 1")

// Recover rebuilds the machine: the newest snapshot that loads (falling back to older ones
// when one is damaged), then every log entry after it. onEntry, when set, sees each
// replayed entry and its output (to rebuild report retention, for example).
func Recover(config core.Config, log LogReader, snapshotDir string, logger *slog.Logger,
	onEntry func(entry *core.Entry, output *core.Output)) (*core.Machine, RecoveryReport, error) {
	if logger == nil {
		logger = slog.Default()
	}
	var report RecoveryReport
	machine, err := loadSnapshot(config, log, snapshotDir, logger, &report)
	if err != nil {
		return nil, report, err
	}
	start := time.Now()
	output := &core.Output{}
	err = log.Read(machine.OpLast(), func(e *wal.Entry) error {
		if e.FirstOp <= machine.OpLast() {
			return fmt.Errorf("shard: log entry at ops %d..%d straddles the snapshot at op %d",
				e.FirstOp, e.LastOp(), machine.OpLast())
		}
		entry := core.Entry{FirstOp: e.FirstOp, Timestamp: e.Timestamp, Body: e.Body}
		output.Reset()
		if err := machine.Apply(&entry, output); err != nil {
			return err
		}
		if machine.OpLast() != e.LastOp() {
			return fmt.Errorf("shard: entry at op %d holds %d requests, its header says %d",
				e.FirstOp, machine.OpLast()-e.FirstOp+1, e.Count)
		}
		if onEntry != nil {
			onEntry(&entry, output)
		}
		report.ReplayedEntries++
		report.ReplayedOps += uint64(e.Count)
		return nil
	})
	report.Replay = time.Since(start)
	report.OpLast = machine.OpLast()
	if err != nil {
		return nil, report, fmt.Errorf("shard: replay: %w", err)
	}
	if machine.OpLast() != log.LastOp() {
		return nil, report, fmt.Errorf("shard: replay ended at op %d, the log at op %d",
			machine.OpLast(), log.LastOp())
	}
	return machine, report, nil
}

// loadSnapshot restores the newest usable snapshot, or returns an empty machine when the
// log starts at op 1 and no snapshot is usable.
func loadSnapshot(config core.Config, log LogReader, dir string, logger *slog.Logger,
	report *RecoveryReport) (*core.Machine, error) {
	var snapshots []wal.SnapshotInfo
	if dir != "" {
		var err error
		if snapshots, err = wal.ListSnapshots(dir); err != nil {
			return nil, fmt.Errorf("shard: list snapshots: %w", err)
		}
	}
	if len(snapshots) > 0 && snapshots[0].Meta.Op > log.LastOp() {
		// Snapshots are written only after their op is durable, so the log lost its tail
		// (zeroed or removed): starting from an older state would silently drop
		// acknowledged writes that the snapshot holds. A damaged newest snapshot proves
		// it as well (a snapshot file gets its name, which gives its op, only once
		// complete): falling back past it would start behind its op, or below a valid
		// older one past the log's end, which no longer meets the log.
		damaged := ""
		if snapshots[0].Err != nil {
			damaged = fmt.Sprintf(" (its file is damaged: %v)", snapshots[0].Err)
		}
		return nil, fmt.Errorf("%w: newest snapshot %s is at op %d%s, the log ends at op %d "+
			"(its tail was lost; a standby rejoins its primary, which streams the rest; "+
			"else fail over to the standby, or accept the loss by moving the snapshots "+
			"after op %d out of %s)", ErrLogBehindSnapshot, snapshots[0].Path,
			snapshots[0].Meta.Op, damaged, log.LastOp(), log.LastOp(), dir)
	}
	for _, info := range snapshots {
		machine, err := restoreSnapshot(config, log, info)
		if err == nil {
			report.SnapshotPath, report.SnapshotOp = info.Path, info.Meta.Op
			return machine, nil
		}
		logger.Warn("shard: snapshot not usable, trying an older one", "path", info.Path,
			"error", err)
		report.SkippedSnapshots = append(report.SkippedSnapshots, fmt.Sprintf("%s: %v",
			info.Path, err))
	}
	if first := logStart(log); first > 1 {
		return nil, fmt.Errorf("%w (log starts at op %d)", ErrNoUsableState, first)
	}
	return core.New(config), nil
}

// logStart is the first op the log can replay: its first entry's, or, when it holds no
// entry, the op after its last (a log that is only a base, wal.Log.StartAfter: it starts
// after a snapshot at that op, which alone holds the state up to it).
func logStart(log LogReader) uint64 {
	if first := log.FirstOp(); first != 0 {
		return first
	}
	return log.LastOp() + 1
}

// logHoldings says what the log holds, for an error: its ops, or, when it holds no
// entry, its base (the op it starts after) or that it is empty.
func logHoldings(log LogReader) string {
	first, last := log.FirstOp(), log.LastOp()
	switch {
	case first != 0:
		return fmt.Sprintf("ops %d..%d", first, last)
	case last != 0:
		return fmt.Sprintf("no entry: only a base at op %d, its first entry will be op %d",
			last, last+1)
	}
	return "empty"
}

// restoreSnapshot loads one snapshot and checks that the log continues right after it.
func restoreSnapshot(config core.Config, log LogReader, info wal.SnapshotInfo) (
	*core.Machine, error) {
	if info.Err != nil {
		return nil, info.Err
	}
	if op := info.Meta.Op; op > log.LastOp() || logStart(log) > op+1 {
		return nil, fmt.Errorf("snapshot at op %d does not meet the log (%s)", op,
			logHoldings(log))
	}
	// Meeting the log by op number is not enough: the snapshot's chain hash at its op
	// ties it to one history (wal.SnapshotMeta.OfAnotherHistory; a log that cannot tell
	// its chains is not checked).
	if chains, ok := log.(wal.ChainReader); ok && info.Meta.OfAnotherHistory(chains) {
		return nil, fmt.Errorf("snapshot at op %d is of another history: its chain "+
			"differs from the log's at that op", info.Meta.Op)
	}
	meta, reader, err := wal.OpenSnapshot(info.Path)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	machine, err := core.Restore(config, reader) // Reads to EOF: the checksum is checked.
	if err != nil {
		return nil, err
	}
	if machine.OpLast() != meta.Op {
		return nil, fmt.Errorf("snapshot state is at op %d, its header says %d",
			machine.OpLast(), meta.Op)
	}
	return machine, nil
}
