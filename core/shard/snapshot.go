package shard

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// SnapshotConfig turns on snapshots. The primary writes a snapshot request into the log
// every EveryOps ops (at least MinimumInterval apart); every replica, on applying the
// entry holding it, captures its state at that op and writes it from a background
// goroutine, so all replicas snapshot at the same op.
type SnapshotConfig struct {
	Dir             string        // Where snapshot files go.
	EveryOps        uint64        // Ops between snapshot requests; 0 = only on demand.
	MinimumInterval time.Duration // Least time between two requests; default 10 s.
	Keep            int           // Snapshot files kept; default 2.
	// RetireLog deletes log segments fully covered by the oldest kept snapshot (or moves
	// them to ArchiveDir when set).
	RetireLog  bool
	ArchiveDir string
	// OnWritten, when set, is called from the background goroutine after each snapshot
	// (or failure), for stats and for replication's digest comparison.
	OnWritten func(result SnapshotResult)
}

// SnapshotResult reports one snapshot.
type SnapshotResult struct {
	Meta       wal.SnapshotMeta
	Path       string
	Pause      time.Duration // Time the sequencer was stopped to capture the state.
	Write      time.Duration // Background time to digest, compress and write.
	Bytes      int64         // Raw state bytes.
	Stored     int64         // Bytes on disk.
	Err        error
	Superseded bool // Skipped: another snapshot was still being written.
}

// snapshotter belongs to the sequencer, except the writer goroutine it starts.
type snapshotter struct {
	config        SnapshotConfig
	lastRequestOp uint64
	lastRequest   time.Time
	busy          chan struct{} // Capacity 1: a snapshot is being written.
	requested     bool          // An admin asked for a snapshot now.
}

func (s *Shard) snapshotsEnabled() bool { return s.snapshots != nil }

// RequestSnapshot asks the primary to write a snapshot request into the log as soon as
// possible (admin "snapshot now"). Safe from any goroutine.
func (s *Shard) RequestSnapshot() {
	select {
	case s.snapshotNow <- struct{}{}:
	default:
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// snapshotDue says whether the primary should write a snapshot request now.
func (s *Shard) snapshotDue() bool {
	if s.snapshots == nil || s.Role() != RolePrimary {
		return false
	}
	select {
	case <-s.snapshotNow:
		s.snapshots.requested = true
	default:
	}
	sn := s.snapshots
	if sn.requested {
		return true
	}
	return sn.config.EveryOps > 0 && s.opLast-sn.lastRequestOp >= sn.config.EveryOps &&
		time.Since(sn.lastRequest) >= sn.config.MinimumInterval
}

// writeSnapshotRequest logs a snapshot request as its own entry.
func (s *Shard) writeSnapshotRequest() error {
	slot := s.acquire()
	s.entry = core.AppendRequest(s.entry[:0], &core.Request{Operation: model.OperationSnapshot})
	slot.origins = append(slot.origins, origin{})
	if err := s.appendAndApply(1, slot); err != nil {
		s.recycle(slot)
		if errors.Is(err, wal.ErrLogFull) || errors.Is(err, errFenced) {
			return nil // Still due: it goes in once the log has room again.
		}
		return err
	}
	s.snapshots.requested = false
	s.snapshots.lastRequestOp, s.snapshots.lastRequest = s.opLast, time.Now()
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	return nil
}

// snapshotIfRequested captures the state when the entry just applied held a snapshot
// request (on every replica alike), and hands it to a background writer. epoch is the
// entry's (the snapshot's Meta.Epoch names the entry holding its op): a standby's own
// epoch may be newer than the entries it catches up on (it starts at its primary's), and
// capture publishes Meta.Epoch as the epoch of a capture_gap's entry.
func (s *Shard) snapshotIfRequested(entry *core.Entry, epoch uint64, output *core.Output) {
	if s.snapshots == nil {
		return
	}
	requested := false
	for i := range output.Replies {
		requested = requested || output.Replies[i].Operation == model.OperationSnapshot
	}
	if !requested {
		return
	}
	op := s.opLast
	select {
	case s.snapshots.busy <- struct{}{}:
	default:
		s.config.Logger.Warn("shard: snapshot skipped: the previous one is still being written",
			"op", op)
		s.reportSnapshot(SnapshotResult{Meta: wal.SnapshotMeta{Op: op}, Superseded: true})
		return
	}
	start := time.Now()
	view := s.machine.Snapshot()
	pause := time.Since(start)
	meta := wal.SnapshotMeta{Op: op, Epoch: epoch, Timestamp: entry.Timestamp}
	s.snapshotWriters.Add(1) // On the goroutine holding turns: before Close's Wait.
	go func() {
		defer s.snapshotWriters.Done()
		s.writeSnapshot(view, meta, pause)
	}()
}

// testHookSnapshotWriting, when set by a test, runs in the snapshot writer once its op is
// durable, before it writes; testHookCloseWaitsForSnapshots runs in Close once the
// sequencer has stopped, before it waits for the writers.
var (
	testHookSnapshotWriting        atomic.Pointer[func()]
	testHookCloseWaitsForSnapshots atomic.Pointer[func()]
)

// writeSnapshot runs on its own goroutine: wait until the op is durable (a snapshot must
// never run ahead of the log), digest the state, write the file, prune and retire.
func (s *Shard) writeSnapshot(view *core.Snapshot, meta wal.SnapshotMeta, pause time.Duration) {
	defer func() { <-s.snapshots.busy }()
	defer view.Release()
	result := SnapshotResult{Meta: meta, Pause: pause}
	start := time.Now()
	for s.log.Durable() < meta.Op && s.log.Err() == nil {
		select {
		case <-time.After(time.Millisecond):
		case <-s.done:
			return
		}
	}
	if durable := s.log.Durable(); durable < meta.Op {
		// The log failed first: the state holds ops it never made durable, and a snapshot
		// past the log's end would make the restart refuse to start (ErrLogBehindSnapshot).
		result.Err = fmt.Errorf("shard: snapshot at op %d not written: the log failed at "+
			"durable op %d: %w", meta.Op, durable, s.log.Err())
		result.Write = time.Since(start)
		s.reportSnapshot(result)
		return
	}
	if hook := testHookSnapshotWriting.Load(); hook != nil {
		(*hook)()
	}
	result.Meta.Chain, _ = s.log.ChainAt(meta.Op)
	result.Meta.Digest = view.Digest()
	info, err := wal.WriteSnapshot(s.snapshots.config.Dir, result.Meta, view)
	result.Err, result.Path, result.Bytes, result.Stored = err, info.Path, info.RawBytes,
		info.StoredBytes
	if err == nil {
		result.Err = s.pruneAndRetire()
	}
	result.Write = time.Since(start)
	s.reportSnapshot(result)
}

func (s *Shard) pruneAndRetire() error {
	config := &s.snapshots.config
	heldOp := s.heldOp()
	if err := wal.PruneSnapshotsHolding(config.Dir, config.Keep, heldOp); err != nil {
		return fmt.Errorf("shard: prune snapshots: %w", err)
	}
	if !config.RetireLog {
		return nil
	}
	snapshots, err := wal.ListSnapshots(config.Dir)
	if err != nil || len(snapshots) == 0 {
		return err
	}
	oldest := snapshots[len(snapshots)-1].Meta.Op
	if heldOp != 0 && heldOp < oldest {
		oldest = 0 // No snapshot at or before the hold: the log must stay from its start.
	}
	if _, err := s.log.Retire(oldest, config.ArchiveDir); err != nil {
		return fmt.Errorf("shard: retire log up to op %d: %w", oldest, err)
	}
	return nil
}

func (s *Shard) reportSnapshot(result SnapshotResult) {
	s.count(func(stats *Stats) {
		stats.Snapshots++
		stats.SnapshotPauseLast = result.Pause
		if result.Err != nil {
			stats.SnapshotErrors++
			stats.SnapshotFailing = true
		} else if !result.Superseded {
			stats.SnapshotFailing = false
		}
	})
	if result.Err != nil {
		s.config.Logger.Error("shard: snapshot failed", "op", result.Meta.Op, "error", result.Err)
	} else if !result.Superseded {
		s.config.Logger.Info("shard: snapshot written", "op", result.Meta.Op, "path", result.Path,
			"pause", result.Pause, "write", result.Write, "bytes", result.Bytes)
	}
	if s.snapshots.config.OnWritten != nil {
		s.snapshots.config.OnWritten(result)
	}
}

// heldOp returns the op the log must stay rebuildable from for the consumers' holds (the
// lowest; 0 when none holds), ignoring a hold once the log it keeps exceeds
// LogHoldBytesMax: that consumer will find a gap and report it (see its documentation).
func (s *Shard) heldOp() uint64 {
	held := uint64(0)
	for _, hold := range s.config.LogHolds {
		if op, ok := hold.HeldOp(); ok && (held == 0 || op < held) {
			held = max(op, 1)
		}
	}
	if held == 0 {
		return held
	}
	if bytes := s.log.BytesAfter(held); bytes > s.config.LogHoldBytesMax {
		s.config.Logger.Error("shard: a consumer holds more log than allowed: retiring without it",
			"held_op", held, "bytes", bytes, "bytes_max", s.config.LogHoldBytesMax)
		return 0
	}
	return held
}
