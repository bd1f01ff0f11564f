package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/shard"
	"sequent/wal"
)

// archiveShardPrefix names shard n's subdirectory (n ≥ 1) of the log archive
// (SnapshotConfig.ArchiveDir), as core/node's layout names its data: shard-n.
const archiveShardPrefix = "shard-"

// GroupConfig is one shard group's part of a NodeConfig: where its log and snapshots are
// and how its state machine is sized (its Shard field says which shard of which map).
type GroupConfig struct {
	LogDir      string
	SnapshotDir string
	Machine     core.Config
}

// Group is one shard's replicated unit: its log, its recovered machine and shard, and
// its replication role — as primary, the Primary that serves its standby's link (reached
// through the node's gate); as standby, the follower that streams from the primary's
// group of the same shard. The Node changes the roles of all its groups together.
//
// A Group is the shard's Acknowledger: replies wait for this group's standby in sync mode.
type Group struct {
	node     *Node
	index    uint16
	config   GroupConfig
	log      *wal.Log
	shard    *shard.Shard
	recovery shard.RecoveryReport
	link     *Link // The standby's first link, from the startup handshake.

	// replicated: the node serves standbys (it has a replication listener); a primary's
	// replies then wait for primary (nil until it starts: nothing is released meanwhile).
	replicated bool
	primary    atomic.Pointer[Primary]
	notify     chan struct{} // Capacity 1; every Primary of this group signals it.
	digests    *digestBook
	standby    StandbyStats
	// followStopped: this group's follower stopped for a reason no reconnection cures
	// (Group.follow's failure): a failed promotion does not restart it. Node.mutex.
	followStopped bool
	// setAsideCache: the last walk of the set-aside states, for Status (any goroutine,
	// its own mutex). Status is read by every /healthz, /readyz and /metrics request, and
	// the walk reads every file of up to setAsideKept set-aside logs per group.
	setAsideCache setAsideCache
}

var _ shard.Acknowledger = (*Group)(nil)

// Acknowledged implements shard.Acknowledger: the standby's acknowledgements while a
// Primary serves this group, nothing while a replicated node has none yet (between a
// promotion and its primary's start), everything without replication.
func (g *Group) Acknowledged() uint64 {
	if !g.replicated {
		return math.MaxUint64
	}
	if p := g.primary.Load(); p != nil {
		return p.Acknowledged()
	}
	return 0
}

// ReadsAllowed implements shard.ReadGate: while a Primary serves this group, its answer
// (the witness lease holds and the node is the primary); none while a replicated node
// has no Primary yet (nothing is released then either); always without replication.
func (g *Group) ReadsAllowed() bool {
	if !g.replicated {
		return true
	}
	if p := g.primary.Load(); p != nil {
		return p.ReadsAllowed()
	}
	return false
}

var _ shard.ReadGate = (*Group)(nil)

// AcknowledgedNotify implements shard.Acknowledger.
func (g *Group) AcknowledgedNotify() <-chan struct{} { return g.notify }

// Index returns the group's shard index.
func (g *Group) Index() uint16 { return g.index }

// Shard returns the group's shard.
func (g *Group) Shard() *shard.Shard { return g.shard }

// Log returns the group's log.
func (g *Group) Log() *wal.Log { return g.log }

// Recovery returns how the group's state was rebuilt at startup.
func (g *Group) Recovery() shard.RecoveryReport { return g.recovery }

// open opens the group's log, after finishing any set-aside of its state that a crash
// cut short (finishSetAsides: the log it opens is then either the old one with its
// snapshots, or the one that replaced it).
func (g *Group) open() error {
	if err := finishSetAsides(g.config.SnapshotDir, g.config.LogDir, g.archiveDir(),
		g.node.config.Logger); err != nil {
		return fmt.Errorf("replication: shard %d: %w", g.index, err)
	}
	options := g.node.config.WAL
	options.Dir, options.Logger = g.config.LogDir, g.node.config.Logger
	log, err := wal.Open(options)
	if err != nil {
		return fmt.Errorf("replication: shard %d: %w", g.index, err)
	}
	g.log = log
	return nil
}

// build recovers the machine and creates the shard.
func (g *Group) build(epoch uint64, role shard.Role) error {
	if err := g.setAsideSnapshotsOfAnotherHistory(); err != nil {
		return fmt.Errorf("replication: shard %d: %w", g.index, err)
	}
	reports := shard.NewReportStore()
	machine, report, err := shard.Recover(g.config.Machine, g.log, g.config.SnapshotDir,
		g.node.config.Logger, func(_ *core.Entry, output *core.Output) { reports.Add(output) })
	if err != nil {
		return fmt.Errorf("replication: shard %d: %w", g.index, err)
	}
	g.recovery = report
	config := g.node.config.Shard
	config.Epoch, config.Role, config.Logger = epoch, role, g.node.config.Logger
	config.Reports, config.Acknowledger, config.ReadGate = reports, g, g
	if g.node.config.Snapshots != nil {
		snapshots := *g.node.config.Snapshots
		snapshots.Dir = g.config.SnapshotDir
		snapshots.ArchiveDir = g.archiveDir()
		user := snapshots.OnWritten
		snapshots.OnWritten = func(result shard.SnapshotResult) {
			g.snapshotWritten(result)
			if user != nil {
				user(result)
			}
		}
		config.Snapshots = &snapshots
	}
	if g.shard, err = shard.New(config, machine, g.log); err != nil {
		return fmt.Errorf("replication: shard %d: %w", g.index, err)
	}
	if role == shard.RoleStandby && g.link != nil {
		g.shard.SetPrimaryAddress(g.link.Welcome.address)
	}
	return nil
}

// archiveDir returns the directory the group's retired segments are archived in ("":
// none). Every shard numbers its segments from 1: in one directory, shard n's would be
// renamed over shard 0's. Shard n ≥ 1 archives into shard-n, as its data does.
func (g *Group) archiveDir() string {
	snapshots := g.node.config.Snapshots
	if snapshots == nil || snapshots.ArchiveDir == "" {
		return ""
	}
	if g.index == 0 {
		return snapshots.ArchiveDir
	}
	return filepath.Join(snapshots.ArchiveDir, archiveShardPrefix+strconv.Itoa(int(g.index)))
}

// snapshotWritten pairs snapshot digests with the other replica's.
func (g *Group) snapshotWritten(result shard.SnapshotResult) {
	if result.Err != nil || result.Superseded {
		return
	}
	if primary := g.primary.Load(); primary != nil {
		primary.SendDigest(result.Meta.Op, result.Meta.Digest)
	} else if g.shard.Role() == shard.RoleStandby {
		g.digests.standby(result.Meta.Op, result.Meta.Digest)
	}
}

// standbyConfig is how this group dials its primary's group.
func (g *Group) standbyConfig() StandbyConfig {
	n := g.node
	return StandbyConfig{Address: n.config.StandbyOf, Key: n.config.Key, TLS: n.clientTLS(),
		Log: g.log, Shard: g.index, Shards: n.shards(), MapChecksum: n.mapChecksum(),
		Logger: n.config.Logger}
}

// align connects to the primary (retrying) and carries out its plan on the local log
// before anything is recovered from it: discard a divergent suffix, or start over from
// the primary's snapshot. It returns the primary's epoch (0 if it started unaligned). A
// group with a log of its own stops waiting after PrimaryWaitAtStart and starts from that
// log unaligned (g.link stays nil): it keeps reconnecting, and the node can be promoted if
// the primary is lost for good (everything it acknowledged is in that log). Should the
// primary come back asking for a truncation, the standby stops with ErrResyncNeeded (a
// restart aligns). A primary that refuses this node's key, certificate or shard map is an
// error at once (no retry can cure it), and the wait ends when ctx does.
func (g *Group) align(ctx context.Context, epoch uint64) (uint64, error) {
	n := g.node
	config := g.standbyConfig()
	config.StateAfter = g.stateAboveAnEmptyLog()
	giveUp := time.Now().Add(n.config.PrimaryWaitAtStart)
	emptyReported := false
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, reconnectDelayMax) {
		link, err := Dial(ctx, config, epoch)
		if err == nil {
			g.link = link
			break
		}
		if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrShardMapMismatch) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("replication: stopped while waiting for the primary at %s: %w",
				n.config.StandbyOf, ctx.Err())
		}
		if g.log.LastOp() > 0 && time.Now().After(giveUp) {
			n.config.Logger.Warn("replication: primary unreachable at start; starting as a "+
				"standby from the local log (still reconnecting; promote this node if the "+
				"primary is lost)", "address", n.config.StandbyOf, "shard", g.index,
				"local_last_op", g.log.LastOp(), "error", err)
			return 0, nil
		}
		if g.log.LastOp() == 0 && !emptyReported {
			g.reportEmptyLogWait()
			emptyReported = true
		}
		n.config.Logger.Warn("replication: primary not reachable yet", "address",
			n.config.StandbyOf, "shard", g.index, "local_last_op", g.log.LastOp(), "error", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("replication: stopped while waiting for the primary at %s: %w",
				n.config.StandbyOf, ctx.Err())
		case <-time.After(delay):
		}
	}
	w := g.link.Welcome
	n.config.Logger.Info("replication: following primary", "address", n.config.StandbyOf,
		"shard", g.index, "plan", w.plan.String(), "op", w.op, "primary_epoch", g.link.PrimaryEpoch)
	switch w.plan {
	case planTruncate:
		keeps, err := g.truncationLeavesAState(w.op)
		if err != nil {
			return 0, err
		}
		if !keeps {
			// The log cut after w.op would start after op 1 with no snapshot under it (its
			// only ones hold divergent ops): no state at any later start. Set the node's
			// own state aside and align again from an empty log, which the primary streams
			// from its start or starts over from its snapshot.
			if err := g.setOwnStateAside(w.op); err != nil {
				return 0, err
			}
			g.link.Close()
			g.link = nil
			return g.align(ctx, epoch)
		}
		// The snapshots of the divergent ops go first (durably), the log after them: a
		// crash between the two then leaves the divergent log whole, which the next
		// handshake asks to truncate again. The other order left a snapshot above a log
		// cut below it, which the next start took for a log that lost its tail
		// (shard.ErrLogBehindSnapshot) and refused for good, and which no later
		// handshake asked to remove (the logs then share their last op: plan stream).
		if err := removeSnapshotsAfter(g.config.SnapshotDir, w.op); err != nil {
			return 0, err
		}
		if testHookTruncatePlanMidway != nil {
			if err := testHookTruncatePlanMidway(); err != nil {
				return 0, err
			}
		}
		if err := g.log.TruncateAfter(w.op); err != nil {
			return 0, err
		}
	case planSnapshot:
		if err := g.startOverFromSnapshot(ctx, w); err != nil {
			return 0, err
		}
	case planStream:
		if config.StateAfter != nil && w.op == config.StateAfter.LastOp &&
			w.chain == config.StateAfter.Chain {
			// The primary streams after the snapshot beside the empty log: the log
			// starts after it, as the start over that put it there would have.
			if err := g.log.StartAfter(w.op, w.chain); err != nil {
				return 0, err
			}
		} else if err := g.setAsideSnapshotsAboveTheLog(w.op); err != nil {
			return 0, err
		}
	}
	return g.link.PrimaryEpoch, nil
}

// reportEmptyLogWait says, once per start, why a group with an empty log waits for its
// primary with no time limit, and where the state it set aside is, if any. Such a node
// holds none of the writes its primary acknowledged (a fresh standby, or one whose start
// over or truncation set its state aside before the crash): started alone, it could be
// promoted and would serve an empty ledger in place of everything its peers hold. So it
// does not start unaligned after PrimaryWaitAtStart as a node with a log does, and it
// cannot be promoted (OpenNode has not returned) until its primary answers.
func (g *Group) reportEmptyLogWait() {
	stamps, paths := setAsideStamps(g.config.SnapshotDir, g.config.LogDir)
	var newest []string
	if len(stamps) > 0 {
		newest = paths[stamps[0]]
	}
	g.node.config.Logger.Warn("replication: the local log is empty: waiting for the primary "+
		"with no time limit; this node cannot be promoted meanwhile (it holds none of the "+
		"writes its peers acknowledged): bring the primary back", "address",
		g.node.config.StandbyOf, "shard", g.index, "set_aside_states", len(stamps),
		"newest_set_aside", strings.Join(newest, ","))
}

// setAsideSnapshotsAboveTheLog sets the snapshots above the log's end aside
// (replaced-<stamp>, durably) when the primary streams right after that end (op: plan
// stream). Recovery refuses a log that ends before the newest snapshot, damaged or not
// (shard.ErrLogBehindSnapshot: it lost its tail), at every start; here the primary holds
// every op after op and streams them, so those snapshots are redundant, and kept for the
// operator. An empty log (op 0): one snapshot that reads whole beside it (a start over
// cut short after it put the primary's snapshot in place) is named in the hello
// (stateAboveAnEmptyLog), so the primary streams after it or refuses; this is for the
// rest (several snapshots, or a damaged one), which a primary whose log starts at op 1
// streams from op 0. A log that lost its tail below its snapshots (one bad disk: the
// newest snapshot damaged too, which recovery used to skip) rejoins the same way.
func (g *Group) setAsideSnapshotsAboveTheLog(op uint64) error {
	if op != g.log.LastOp() || g.config.SnapshotDir == "" {
		return nil
	}
	aside := snapshotsAsidePath(g.config.SnapshotDir,
		newSetAsideStamp(g.config.SnapshotDir, g.config.LogDir))
	moved, err := moveSnapshots(g.config.SnapshotDir, aside,
		func(info wal.SnapshotInfo) bool { return info.Meta.Op > op })
	if len(moved) > 0 {
		g.node.config.Logger.Warn("replication: snapshots above the log's end set aside (the "+
			"primary streams the log after it)", "shard", g.index, "log_last_op", op,
			"snapshots_kept_at", aside)
	}
	return err
}

// stateAboveAnEmptyLog returns, for an empty log beside exactly one snapshot that reads
// whole, that snapshot's op and chain: the state a start over cut short before its new
// log recorded its base (wal.Log.StartAfter) left, which the hello names
// (StandbyConfig.StateAfter). nil otherwise.
func (g *Group) stateAboveAnEmptyLog() *wal.ChainPoint {
	if g.log.LastOp() != 0 || g.config.SnapshotDir == "" {
		return nil
	}
	snapshots, err := wal.ListSnapshots(g.config.SnapshotDir)
	if err != nil || len(snapshots) != 1 || snapshots[0].Err != nil ||
		!snapshotReadsWhole(snapshots[0].Path) {
		return nil
	}
	return &wal.ChainPoint{LastOp: snapshots[0].Meta.Op, Chain: snapshots[0].Meta.Chain}
}

// truncationLeavesAState reports whether the log cut after op still rebuilds a state (as
// shard recovery would): it starts at op 1, or a readable snapshot at or before op, of its
// history, meets it. Readable means read whole with its body checksum right: recovery
// falls back from a damaged body, and once the truncation has removed the newer
// snapshots there is nothing to fall back to (a header that reads is not enough).
func (g *Group) truncationLeavesAState(op uint64) (bool, error) {
	firstOp := g.log.FirstOp()
	if firstOp <= 1 {
		return true, nil
	}
	snapshots, err := wal.ListSnapshots(g.config.SnapshotDir)
	if err != nil {
		return false, err
	}
	for _, info := range snapshots {
		if info.Err == nil && info.Meta.Op <= op && info.Meta.Op+1 >= firstOp &&
			!info.Meta.OfAnotherHistory(g.log) && snapshotReadsWhole(info.Path) {
			return true, nil
		}
	}
	return false, nil
}

// snapshotReadsWhole reports whether the snapshot at path reads to its end with its body
// checksum and length right (wal.OpenSnapshot's reader checks both at EOF).
func snapshotReadsWhole(path string) bool { return snapshotReadError(path) == nil }

// snapshotReadError reads the snapshot at path to its end through every check and
// returns the first problem (nil when it reads whole).
func snapshotReadError(path string) error {
	_, reader, err := wal.OpenSnapshot(path)
	if err != nil {
		return err
	}
	defer reader.Close()
	_, err = io.Copy(io.Discard, reader)
	return err
}

// setOwnStateAside sets the node's snapshots (subdirectory replaced-<stamp>) and its log
// (<LogDir>.replaced-<stamp>) aside, never deleted, in crash-safe steps (setAside), and
// opens an empty log in its place: a truncation after op would leave no state. The
// oldest set-asides beyond setAsideKept are removed once the empty log is in place.
func (g *Group) setOwnStateAside(op uint64) error {
	if err := g.log.Close(); err != nil {
		return err
	}
	aside := setAside{snapshotDir: g.config.SnapshotDir, logDir: g.config.LogDir,
		archiveDir: g.archiveDir(), stamp: newSetAsideStamp(g.config.SnapshotDir, g.config.LogDir)}
	if err := aside.run(g.node.config.Logger); err != nil {
		return err
	}
	g.node.config.Logger.Warn("replication: the primary's truncation would leave no usable "+
		"state (the log starts after op 1 and every snapshot holds a divergent op): local "+
		"state set aside, aligning again from an empty log", "shard", g.index,
		"truncate_after_op", op, "kept_at", aside.logAside(), "snapshots_kept_at",
		strings.Join(snapshotsSetAside(g.config.SnapshotDir), ","))
	if err := g.open(); err != nil {
		return err
	}
	g.pruneSetAsides()
	return nil
}

// snapshotsSetAside returns the subdirectories replaced-* of dir that hold snapshots:
// every set-aside state of this node still on disk (none removed by hand), for the
// operator.
func snapshotsSetAside(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var holding []string
	for _, entry := range entries {
		if !entry.IsDir() || !strings.HasPrefix(entry.Name(), replacedPrefix) {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		if snapshots, err := wal.ListSnapshots(path); err == nil && len(snapshots) > 0 {
			holding = append(holding, path)
		}
	}
	return holding
}

// testHookTruncatePlanMidway, when set by a test, runs between the two steps of a
// truncate plan (align); an error it returns stops the start there, as a crash would.
var testHookTruncatePlanMidway func() error

// startOverFromSnapshot receives the primary's snapshot and restarts the local log right
// after it. ctx ends the transfer (a shutdown at start), which can take minutes for a
// large state. The node's own state (its log and its snapshots) stays in place until the
// received snapshot is whole and durable: a primary lost during the transfer leaves the
// node the state it had, to start from (and be promoted from) while its primary is down;
// a log retired up to its own snapshots is no state without them (shard.ErrNoUsableState).
// The snapshot is received into receivingDirectory inside the snapshot directory (no
// reader lists a subdirectory), its header checked against the plan and its body read
// whole (checkReceivedSnapshot); then the node's own
// snapshots and log are set aside (replaced-<stamp>, <LogDir>.replaced-<stamp>), never
// deleted, in crash-safe steps (setAside: until the log's rename the snapshots go back
// beside it, at a failure or at the next start), and the received snapshot renamed into
// place, each step durable before the next. The received snapshot is never beside the
// old log: a crash after the log is set aside leaves an empty log, whose start waits for
// the primary, which plans the start over again. Once the new log starts after the
// snapshot, set-asides beyond the newest setAsideKept are removed.
func (g *Group) startOverFromSnapshot(ctx context.Context, w welcome) error {
	snapshotDir := g.config.SnapshotDir
	if snapshotDir == "" { // Else receiving/ would be relative to the working directory.
		return fmt.Errorf("replication: shard %d: no snapshot directory to start over in",
			g.index)
	}
	receiving := filepath.Join(snapshotDir, receivingDirectory)
	if err := os.RemoveAll(receiving); err != nil { // An earlier start's transfer, cut short.
		return err
	}
	release := closeWhenDone(ctx, g.link.conn)
	received, err := g.link.ReceiveSnapshot(receiving)
	if !release() || ctx.Err() != nil {
		return fmt.Errorf("replication: stopped while receiving the primary's snapshot: %w",
			errors.Join(err, ctx.Err()))
	}
	if err != nil {
		return err
	}
	if err := checkReceivedSnapshot(receiving, w); err != nil {
		return err
	}
	// Closed first: the set-aside renames its directory. Until the log is set aside, a
	// step that fails (or a crash, at the next start) puts the snapshots back: the log
	// of a node that retires its log is no state without them (shard.ErrNoUsableState).
	logEmpty := g.log.LastOp() == 0
	if err := g.log.Close(); err != nil {
		return err
	}
	aside := setAside{snapshotDir: snapshotDir, logDir: g.config.LogDir,
		archiveDir: g.archiveDir(), stamp: newSetAsideStamp(snapshotDir, g.config.LogDir), logEmpty: logEmpty}
	if err := aside.run(g.node.config.Logger); err != nil {
		return err
	}
	keptAt := aside.logAside() // None when there was nothing to set aside.
	if _, err := os.Stat(keptAt); err != nil {
		keptAt = ""
	}
	if err := wal.RenameDurably(received, filepath.Join(snapshotDir,
		filepath.Base(received))); err != nil {
		return err
	}
	if err := os.Remove(receiving); err != nil {
		return err
	}
	g.node.config.Logger.Warn("replication: local log replaced by the primary's snapshot",
		"shard", g.index, "kept_at", keptAt, "snapshots_kept_at",
		strings.Join(snapshotsSetAside(snapshotDir), ","), "snapshot_op", w.op)
	if err := g.open(); err != nil {
		return err
	}
	g.link.config.Log = g.log
	if err := g.log.StartAfter(w.op, w.chain); err != nil {
		return err
	}
	g.pruneSetAsides()
	return nil
}

// pruneSetAsides removes the set-asides beyond the newest setAsideKept, once the state
// that replaced the newest is in place. A removal that fails is logged and stops no
// start: the node's state is whole, only disk space is at stake (Status shows it).
func (g *Group) pruneSetAsides() {
	logger := g.node.config.Logger
	if err := pruneSetAsides(g.config.SnapshotDir, g.config.LogDir, logger); err != nil {
		logger.Warn("replication: older set-aside states not removed", "shard", g.index,
			"error", err)
	}
}

// receivingDirectory is the subdirectory of a snapshot directory that a start over
// receives the primary's snapshot into (startOverFromSnapshot).
const receivingDirectory = "receiving"

// checkReceivedSnapshot checks the snapshot received into dir: its header names the op
// and chain hash the plan named (a snapshot of another op or history must not replace
// the node's own state), and its body reads whole (every checksum, the recorded length):
// the primary sends its file as it reads it, and a body damaged on its disk would
// otherwise replace the node's own state by one that recovery cannot load.
func checkReceivedSnapshot(dir string, w welcome) error {
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		return err
	}
	if len(snapshots) != 1 || snapshots[0].Err != nil || snapshots[0].Meta.Op != w.op ||
		snapshots[0].Meta.Chain != w.chain {
		problem := "not one snapshot"
		if len(snapshots) == 1 && snapshots[0].Err != nil {
			problem = snapshots[0].Err.Error()
		} else if len(snapshots) == 1 {
			problem = fmt.Sprintf("op %d and a chain hash other than the plan's",
				snapshots[0].Meta.Op)
		}
		return fmt.Errorf("replication: the primary's snapshot for a start over at op %d: %s",
			w.op, problem)
	}
	if err := snapshotReadError(snapshots[0].Path); err != nil {
		return fmt.Errorf("replication: the primary's snapshot for a start over at op %d "+
			"does not read whole (the node keeps its own state): %w", w.op, err)
	}
	return nil
}

// setAsideSnapshotsOfAnotherHistory moves the snapshots whose chain hash differs from the
// log's at their op (wal.SnapshotMeta.OfAnotherHistory) into a new subdirectory
// replaced-<stamp>, durably, before recovery. Recovery skips them, but the readers that
// pick a snapshot by op alone would not: the shard's prune keeps the newest at or before
// capture's held op, and retires the log up to the oldest it keeps, after which the log
// can no longer place such a snapshot's chain.
func (g *Group) setAsideSnapshotsOfAnotherHistory() error {
	dir := g.config.SnapshotDir
	aside := snapshotsAsidePath(dir, newSetAsideStamp(dir, g.config.LogDir))
	moved, err := moveSnapshots(dir, aside, func(info wal.SnapshotInfo) bool {
		return info.Err == nil && info.Meta.OfAnotherHistory(g.log)
	})
	for _, path := range moved {
		g.node.config.Logger.Warn("replication: snapshot of another history set aside (its "+
			"chain hash differs from the log's at its op)", "shard", g.index, "kept_at", path)
	}
	return err
}

// moveSnapshots moves the snapshots in dir that which selects into aside, a new
// subdirectory, durably, and returns their new paths.
func moveSnapshots(dir, aside string, which func(wal.SnapshotInfo) bool) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, info := range snapshots {
		if !which(info) {
			continue
		}
		if len(moved) == 0 {
			if err := os.Mkdir(aside, wal.DirectoryMode); err != nil {
				return nil, err
			}
		}
		path := filepath.Join(aside, filepath.Base(info.Path))
		if err := os.Rename(info.Path, path); err != nil {
			return moved, err
		}
		moved = append(moved, path)
	}
	if len(moved) == 0 {
		return nil, nil
	}
	if err := wal.SyncDirectory(aside); err != nil {
		return moved, err
	}
	return moved, wal.SyncDirectory(dir)
}

// startPrimary begins serving this group's standby (reached through the node's gate).
// alone starts it released from its standby (a promotion: there is none yet) until one
// attaches and catches up.
func (g *Group) startPrimary(heartbeat time.Duration, alone bool) {
	n := g.node
	p := StartPrimary(PrimaryConfig{Key: n.config.Key, Log: g.log, Shard: g.shard,
		Index: g.index, Shards: n.shards(), MapChecksum: n.mapChecksum(), Fence: n.fence,
		Notify: g.notify, SnapshotDir: g.config.SnapshotDir, Mode: n.config.Mode,
		DegradeAfter: n.config.DegradeAfter, ClientAddress: n.config.ClientAddress,
		HeartbeatInterval: heartbeat, Lease: n.leaseClock, Logger: n.config.Logger})
	if alone && n.config.Mode == ModeSync {
		p.degraded.Store(true)
		p.stats.degradations.Add(1)
		n.config.Logger.Warn("replication: promoted without a standby: releasing on local "+
			"durability until a standby attaches and catches up", "shard", g.index)
	}
	g.primary.Store(p)
	p.signal()
}

// follow streams from the primary's group, starting on link (the startup handshake's; nil:
// dial first), reconnecting with back-off, until stopped (it returns nil), or until
// something no reconnection cures: the primary asks for a resync (which needs a restart),
// refuses this node's key, certificate or map, or the local log fails. It returns that
// failure, which the node records (the standby has stopped following).
func (g *Group) follow(following context.Context, link *Link) error {
	n := g.node
	config := g.standbyConfig()
	for delay := 50 * time.Millisecond; ; {
		if link != nil {
			g.standby.lastHeard.Store(time.Now().UnixNano())
			g.standby.connected.Store(true)
			err := link.Stream(g.shard.Replicate, g.digests, following.Done(), &g.standby)
			g.standby.connected.Store(false)
			link.Close()
			if following.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrDigestMismatch) {
				return err
			}
			if shardErr := g.shard.Err(); shardErr != nil {
				return fmt.Errorf("replication: shard %d: the local log failed: %w", g.index,
					shardErr)
			}
			n.config.Logger.Warn(streamEndedMessage, "shard", g.index, "error", err)
			delay = 50 * time.Millisecond
		}
		select {
		case <-following.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectDelayMax)
		var err error
		link, err = Dial(following, config, g.shard.Epoch())
		if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrShardMapMismatch) {
			return err // The primary's key, certificate or map changed: waiting cannot help.
		}
		if err != nil {
			link = nil
			continue
		}
		if link.Welcome.plan != planStream || link.Welcome.op != g.log.LastOp() {
			link.Close()
			return fmt.Errorf("%w (shard %d: plan %s at op %d, local log at op %d)",
				ErrResyncNeeded, g.index, link.Welcome.plan, link.Welcome.op, g.log.LastOp())
		}
		// Its primary's epoch, as a start's alignment takes it (OpenNode): a node that
		// started unaligned and joins its primary now follows that primary's history.
		if err := n.adoptPrimaryEpoch(link.PrimaryEpoch); err != nil {
			link.Close()
			return fmt.Errorf("replication: shard %d: storing the primary's epoch %d: %w",
				g.index, link.PrimaryEpoch, err)
		}
		g.shard.SetPrimaryAddress(link.Welcome.address)
	}
}

// heardWithin reports whether this group's link is up and brought a frame within window.
func (g *Group) heardWithin(window time.Duration) bool {
	heard := g.standby.lastHeard.Load()
	return g.standby.connected.Load() && heard != 0 && time.Since(time.Unix(0, heard)) < window
}
