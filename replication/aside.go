package replication

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sequent/wal"
)

// setAsideKept is how many set-aside states (a replaced-<stamp> pair: the snapshots
// subdirectory and <LogDir>.replaced-<stamp>) a group keeps on disk: the newest ones,
// by stamp. Each start over or truncation that leaves no state sets one aside, so a node
// that restarts into such a plan repeatedly would otherwise fill its disk with copies of
// states its primary has overruled; three keep the last few for an operator to inspect.
const setAsideKept = 3

// replacedPrefix names a completed set-aside (replaced-<stamp>); settingAsidePrefix names
// the snapshots subdirectory of one whose log is not set aside yet (setting-aside-<stamp>):
// until the log's rename, the snapshots in it still belong to the log in place.
const (
	replacedPrefix     = "replaced-"
	settingAsidePrefix = "setting-aside-"
)

// setAside is one setting aside of a group's own state (its snapshots and its log), done
// in steps, each one rename or one directory sync, so that a crash between any two leaves
// a state recovery uses on its own:
//
//  1. the snapshots move into <SnapshotDir>/setting-aside-<stamp> (made first), durably;
//  2. the log directory is renamed <LogDir>.replaced-<stamp>, durably: the commit point;
//  3. the segments archived from the old log (archiveDir, --wal-archive) move into
//     <archiveDir>/replaced-<stamp>, durably: the new log numbers its segments from 1
//     again, and its retirements must not meet the old history's (wal.Retire refuses to
//     replace one, which would stop retention). The archive's set-asides are never
//     pruned: keeping retired segments is the archive's whole point;
//  4. setting-aside-<stamp> is renamed replaced-<stamp>, durably.
//
// A restart (finishSetAsides, run before the log opens) completes steps 3 and 4 when the
// log is aside, and otherwise moves the snapshots back beside the log still in place:
// before step 2 the node has its old log with its snapshots, after it an empty log with
// the set-aside pair. The log must be closed before the steps run.
type setAside struct {
	snapshotDir string // "": the node keeps no snapshots (only the log moves).
	logDir      string
	archiveDir  string // The group's archive of retired segments; "": none.
	stamp       int64
	// logEmpty: the log holds no entry. With no snapshot either there is nothing to
	// keep, and no step: a set-aside of it would only push a real one out of the newest
	// setAsideKept.
	logEmpty bool
}

func (a setAside) settingAside() string {
	return filepath.Join(a.snapshotDir, settingAsidePrefix+strconv.FormatInt(a.stamp, 10))
}

func (a setAside) snapshotsAside() string { return snapshotsAsidePath(a.snapshotDir, a.stamp) }

// snapshotsAsidePath is where a set-aside of stamp puts the snapshots of snapshotDir.
func snapshotsAsidePath(snapshotDir string, stamp int64) string {
	return filepath.Join(snapshotDir, replacedPrefix+strconv.FormatInt(stamp, 10))
}

func (a setAside) logAside() string { return logAsidePath(a.logDir, a.stamp) }

// archiveAside is where the set-aside puts the archive's segments of the old history: a
// subdirectory the archive readers (`sequent wal verify|inspect DIR`, which read DIR's
// own segments and DIR/shard-n's) never take for a log.
func (a setAside) archiveAside() string {
	return filepath.Join(a.archiveDir, replacedPrefix+strconv.FormatInt(a.stamp, 10))
}

// setArchiveAside moves the archive's segments of the old history aside (step 3).
func (a setAside) setArchiveAside() error {
	if a.archiveDir == "" {
		return nil
	}
	return wal.SetArchivedSegmentsAside(a.archiveDir, a.archiveAside())
}

// logAsidePath is where a set-aside of stamp puts the log of logDir.
func logAsidePath(logDir string, stamp int64) string {
	return fmt.Sprintf("%s.%s%d", logDir, replacedPrefix, stamp)
}

// steps lists the set-aside's steps (one per rename or sync) for the snapshots now in
// the snapshot directory.
func (a setAside) steps() ([]func() error, error) {
	var steps []func() error
	if a.snapshotDir != "" {
		snapshots, err := wal.ListSnapshots(a.snapshotDir)
		if err != nil {
			return nil, err
		}
		if len(snapshots) > 0 {
			pending := a.settingAside()
			steps = append(steps, func() error { return os.Mkdir(pending, wal.DirectoryMode) })
			for _, info := range snapshots { // Damaged ones too: all are the node's own.
				steps = append(steps, func() error {
					return os.Rename(info.Path, filepath.Join(pending, filepath.Base(info.Path)))
				})
			}
			steps = append(steps, func() error { return wal.SyncDirectory(pending) },
				func() error { return wal.SyncDirectory(a.snapshotDir) })
		}
	}
	if a.logEmpty && len(steps) == 0 {
		return nil, nil
	}
	snapshotsMoved := len(steps) > 0
	// Without snapshots to mark the set-aside (setting-aside-<stamp>), a crash between the
	// log's rename and step 3 leaves the old segments in the archive: the first
	// retirement of the new log then stops on them (wal.ErrArchivedSegmentDiffers)
	// rather than replace them. A node that archives retires only after snapshots, so it
	// has some.
	steps = append(steps, func() error { return os.Rename(a.logDir, a.logAside()) },
		func() error { return wal.SyncDirectory(filepath.Dir(a.logDir)) })
	if a.archiveDir != "" {
		steps = append(steps, a.setArchiveAside)
	}
	if snapshotsMoved {
		steps = append(steps,
			func() error { return os.Rename(a.settingAside(), a.snapshotsAside()) },
			func() error { return wal.SyncDirectory(a.snapshotDir) })
	}
	return steps, nil
}

// run carries the set-aside out. A step that fails is finished as a restart would
// (finishSetAsides): the snapshots go back beside the log if it is still in place.
func (a setAside) run(logger *slog.Logger) error {
	steps, err := a.steps()
	if err != nil {
		return err
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return errors.Join(err, finishSetAsides(a.snapshotDir, a.logDir, a.archiveDir,
				logger))
		}
	}
	return nil
}

// finishSetAsides completes or undoes every set-aside of this group that a crash (or a
// failed step) cut short: one whose log is aside gets the archive's segments moved aside
// (archiveDir; "": none) and its snapshots subdirectory renamed replaced-<stamp>; one
// whose log is still in place gets its snapshots moved back. Each move is durable before
// the next, and a crash inside this is finished by the next call.
func finishSetAsides(snapshotDir, logDir, archiveDir string, logger *slog.Logger) error {
	if snapshotDir == "" {
		return nil
	}
	entries, err := os.ReadDir(snapshotDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, entry := range entries {
		stampText, pending := strings.CutPrefix(entry.Name(), settingAsidePrefix)
		stamp, parseErr := strconv.ParseInt(stampText, 10, 64)
		if !pending || !entry.IsDir() || parseErr != nil {
			continue
		}
		a := setAside{snapshotDir: snapshotDir, logDir: logDir, archiveDir: archiveDir,
			stamp: stamp}
		if _, err := os.Stat(a.logAside()); err == nil {
			if err := a.setArchiveAside(); err != nil {
				return err
			}
			if err := wal.RenameDurably(a.settingAside(), a.snapshotsAside()); err != nil {
				return err
			}
			logger.Warn("replication: a set-aside cut short after its log was set aside: "+
				"completed", "kept_at", a.logAside(), "snapshots_kept_at", a.snapshotsAside())
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := a.putSnapshotsBack(); err != nil {
			return err
		}
		logger.Warn("replication: a set-aside cut short before its log was set aside: "+
			"the log's snapshots put back beside it", "snapshot_dir", snapshotDir)
	}
	return nil
}

// putSnapshotsBack moves every file of the set-aside's setting-aside-<stamp> back into
// the snapshot directory, durably, and then removes the subdirectory.
func (a setAside) putSnapshotsBack() error {
	pending := a.settingAside()
	files, err := os.ReadDir(pending)
	if err != nil {
		return err
	}
	for _, file := range files {
		if err := os.Rename(filepath.Join(pending, file.Name()),
			filepath.Join(a.snapshotDir, file.Name())); err != nil {
			return err
		}
	}
	if len(files) > 0 {
		if err := wal.SyncDirectory(a.snapshotDir); err != nil {
			return err
		}
		if err := wal.SyncDirectory(pending); err != nil {
			return err
		}
	}
	if err := os.Remove(pending); err != nil {
		return err
	}
	return wal.SyncDirectory(a.snapshotDir)
}

// setAsideStamps returns the stamps of the group's completed set-asides, newest first,
// with their paths: replaced-<stamp> under the snapshot directory, and
// <LogDir>.replaced-<stamp> beside the log (a set-aside has one of them or both).
func setAsideStamps(snapshotDir, logDir string) ([]int64, map[int64][]string) {
	paths := make(map[int64][]string)
	collect := func(dir, prefix string) {
		if dir == "" {
			return
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, entry := range entries {
			stampText, ok := strings.CutPrefix(entry.Name(), prefix)
			stamp, err := strconv.ParseInt(stampText, 10, 64)
			if ok && err == nil && entry.IsDir() {
				paths[stamp] = append(paths[stamp], filepath.Join(dir, entry.Name()))
			}
		}
	}
	collect(snapshotDir, replacedPrefix)
	collect(filepath.Dir(logDir), filepath.Base(logDir)+"."+replacedPrefix)
	stamps := make([]int64, 0, len(paths))
	for stamp := range paths {
		stamps = append(stamps, stamp)
	}
	slices.Sort(stamps)
	slices.Reverse(stamps)
	return stamps, paths
}

// newSetAsideStamp returns the stamp for a new set-aside of the group: the wall clock, or
// one more than the newest stamp on disk if that is not below it. Pruning keeps the
// newest by stamp, so a set-aside stamped below older ones (the clock stepped back since
// they were made) would be the first removed, by the very prune that follows it; and two
// set-asides must never share a stamp (their directories would collide).
func newSetAsideStamp(snapshotDir, logDir string) int64 {
	stamp := time.Now().UnixNano()
	if stamps, _ := setAsideStamps(snapshotDir, logDir); len(stamps) > 0 && stamps[0] >= stamp {
		stamp = stamps[0] + 1
	}
	return stamp
}

// pruneSetAsides removes the group's set-asides older than the newest setAsideKept. It
// runs only once the state that replaced the newest is durable.
func pruneSetAsides(snapshotDir, logDir string, logger *slog.Logger) error {
	stamps, paths := setAsideStamps(snapshotDir, logDir)
	for _, stamp := range stamps[min(len(stamps), setAsideKept):] {
		for _, path := range paths[stamp] {
			if err := os.RemoveAll(path); err != nil {
				return err
			}
			if err := wal.SyncDirectory(filepath.Dir(path)); err != nil {
				return err
			}
			logger.Info("replication: an older set-aside state removed", "path", path,
				"kept", setAsideKept)
		}
	}
	return nil
}

// SetAsideStatus shows the states a group set aside (start overs, truncations that left
// no state, snapshots of another history), which it never uses again: Count set-asides
// (at most setAsideKept after the newest one is made) holding Bytes of files.
type SetAsideStatus struct {
	Count uint64 `json:"count"`
	Bytes uint64 `json:"bytes"`
}

// setAsideStatus counts the group's set-asides and the bytes of their files.
// setAsideCacheTime bounds how often Status walks the set-aside states (as the data
// directory's size is walked at most every ten seconds by the operators' endpoints).
const setAsideCacheTime = 10 * time.Second

// setAsideCache keeps the last setAsideStatus for setAsideCacheTime.
type setAsideCache struct {
	mutex    sync.Mutex
	status   SetAsideStatus
	walkedAt time.Time // Zero until the first walk.
}

// get returns the set-aside status, walking the directories again when the last walk is
// older than setAsideCacheTime (or none was made). Any goroutine.
func (c *setAsideCache) get(snapshotDir, logDir string, now time.Time) SetAsideStatus {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if c.walkedAt.IsZero() || now.Sub(c.walkedAt) >= setAsideCacheTime {
		c.status = setAsideStatus(snapshotDir, logDir)
		c.walkedAt = now
	}
	return c.status
}

func setAsideStatus(snapshotDir, logDir string) SetAsideStatus {
	stamps, paths := setAsideStamps(snapshotDir, logDir)
	status := SetAsideStatus{Count: uint64(len(stamps))}
	for _, stamp := range stamps {
		for _, path := range paths[stamp] {
			filepath.WalkDir(path, func(_ string, entry fs.DirEntry, err error) error {
				if err != nil || entry.IsDir() {
					return nil
				}
				if info, err := entry.Info(); err == nil {
					status.Bytes += uint64(info.Size())
				}
				return nil
			})
		}
	}
	return status
}
