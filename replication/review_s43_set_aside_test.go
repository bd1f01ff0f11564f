package replication

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/wal"
)

// TestStartOverAfterTheClockWentBackKeepsItsOwnSetAside: set-asides are stamped with the
// wall clock and pruned to the newest setAsideKept by stamp. Three set-asides left while
// the clock was ahead (an hour here: a clock stepped back by NTP, a board booted with a
// wrong RTC) outrank every later stamp, so the prune that follows a start over removed
// the set-aside the start over had just made, the node's own log and snapshots, and kept
// the three stale ones. The newest set-aside must be the one just made, whatever the
// clock says, and it must survive its own prune.
func TestStartOverAfterTheClockWentBackKeepsItsOwnSetAside(t *testing.T) {
	config, primary := startOverSetup(t)
	defer primary.Close()
	group := config.Groups[0]
	ownSegments, err := filepath.Glob(filepath.Join(group.LogDir, "*"))
	if err != nil || len(ownSegments) == 0 {
		t.Fatalf("setup: the node's own log has no file (%v)", err)
	}
	ahead := time.Now().Add(time.Hour).UnixNano()
	seedSetAsides(t, group, []int64{ahead, ahead + 1, ahead + 2}, nil, 10)

	standby := startNode(t, config)
	defer standby.Close()
	stamps, paths := setAsideStamps(group.SnapshotDir, group.LogDir)
	if len(stamps) != setAsideKept {
		t.Fatalf("set-asides kept: %v, want %d", stamps, setAsideKept)
	}
	// The start over's set-aside holds the node's own log: its segment files, where a
	// seeded one holds only "file".
	keptOwnLog := false
	for _, stamp := range stamps {
		for _, path := range paths[stamp] {
			if _, err := os.Stat(filepath.Join(path, filepath.Base(ownSegments[0]))); err == nil &&
				filepath.Dir(path) == filepath.Dir(group.LogDir) {
				keptOwnLog = stamp == stamps[0]
			}
		}
	}
	if !keptOwnLog {
		t.Fatalf("the start over's set-aside (the node's own log) is not the newest kept: "+
			"kept %v (the seeded stamps start at %d)", stamps, ahead)
	}
	if snapshots, err := wal.ListSnapshots(group.SnapshotDir); err != nil || len(snapshots) != 1 {
		t.Fatalf("the start over left %d snapshots (%v), want the primary's", len(snapshots), err)
	}
}

// TestSnapshotBesideAnEmptyLogIsNotDroppedForAnEmptyPrimary: a standby whose log is
// empty beside one snapshot (a start over cut short before its first entry) holds the
// state at the snapshot's op, writes its old primary acknowledged. It greets its primary
// with last op 0, so a primary that holds nothing (started on an empty directory after
// losing its disk, or the wrong address) plans a stream from op 0, and the standby set
// its snapshot aside and started following an empty ledger: the acknowledged writes
// were left only in a replaced-<stamp> that later prunes remove. A standby with the
// same state in a log is refused by such a primary (ErrDiverged), keeps its state and
// keeps trying; this one must not give its state up either: its snapshot stays in place
// and it keeps waiting for a primary that holds that state.
func TestSnapshotBesideAnEmptyLogIsNotDroppedForAnEmptyPrimary(t *testing.T) {
	// The old primary, whose state the snapshot holds.
	old, _, snapshot := startSnapshotted(t, t.TempDir(), 1, 2)
	old.Close()

	emptyConfig := nodeConfig(t.TempDir(), freeAddress(t), "")
	emptyConfig.Mode = ModeAsync
	empty := startNode(t, emptyConfig) // A primary that holds nothing.
	defer empty.Close()

	config := nodeConfig(t.TempDir(), "", emptyConfig.Listen)
	config.PrimaryWaitAtStart = time.Millisecond
	lines := &lockedLog{}
	config.Logger = slog.New(slog.NewTextHandler(lines, nil))
	kept := filepath.Join(config.Groups[0].SnapshotDir, filepath.Base(snapshot.Path))
	if err := os.MkdirAll(config.Groups[0].SnapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, data, 0o644); err != nil {
		t.Fatal(err)
	}

	stop := openWhileDialing(t, config, lines, "the standby neither followed nor kept trying",
		func(err error) {
			t.Fatalf("the standby opened (%v) following a primary that holds nothing; "+
				"its snapshot at op %d is in place: %v\n%s", err, snapshot.Meta.Op,
				fileExists(kept), lines.String())
		})
	_ = stop()
	if !fileExists(kept) {
		t.Fatalf("the standby's snapshot at op %d was set aside", snapshot.Meta.Op)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestStartOverOfAnEmptyStandbySetsNothingAside: a standby with nothing of its own (an
// empty log, no snapshot: a new standby, or one whose truncation just set its state
// aside and aligns again) starts over from its primary's snapshot when the primary's log
// is retired. The start over set the empty log aside all the same, as one more
// set-aside, and the prune that followed removed the oldest real one to keep three: a
// truncation that left no state cost two of the three places (its own state, then the
// empty log), and a standby restarted a few times before its first entry pushed every
// real set-aside out. An empty log beside no snapshot is nothing to keep.
func TestStartOverOfAnEmptyStandbySetsNothingAside(t *testing.T) {
	built, _, _ := ownStateRetired(t)
	primary := startNode(t, retiringSnapshots(nodeConfig(built, freeAddress(t), ""), 1))
	defer primary.Close()
	config := nodeConfig(t.TempDir(), "", primary.config.Listen)
	group := config.Groups[0]
	seedSetAsides(t, group, []int64{1, 2, 3}, nil, 10)

	standby := startNode(t, config)
	defer standby.Close()
	waitCaughtUp(t, standby, primary)
	if standby.Recovery().SnapshotPath == "" {
		t.Fatal("setup: the standby did not start over from the primary's snapshot")
	}
	if stamps, _ := setAsideStamps(group.SnapshotDir, group.LogDir); len(stamps) != 3 ||
		stamps[0] != 3 || stamps[2] != 1 {
		t.Fatalf("set-asides %v, want the three seeded ones (3 2 1): nothing to set aside, "+
			"nothing pruned", stamps)
	}
}

// TestSnapshotBesideAnEmptyLogResumesAfterIt: the standby of the test above, facing a
// primary that holds the snapshot's op of the same history, resumes right after the
// snapshot (its log starts at the next op, the snapshot stays where it is, nothing is set
// aside) instead of setting the snapshot aside and fetching the whole log from op 1.
func TestSnapshotBesideAnEmptyLogResumesAfterIt(t *testing.T) {
	primary, primaryConfig, snapshot := startSnapshotted(t, t.TempDir(), 1, 2)
	defer primary.Close()
	primary.submit(t, 2, 2, model.OperationCreateAccounts, accounts(3))
	primary.replies.wait(t, 2)

	config := nodeConfig(t.TempDir(), "", primaryConfig.Listen)
	group := config.Groups[0]
	if err := os.MkdirAll(group.SnapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(group.SnapshotDir, filepath.Base(snapshot.Path))
	if err := os.WriteFile(kept, data, 0o644); err != nil {
		t.Fatal(err)
	}
	standby := startNode(t, config)
	defer standby.Close()
	waitCaughtUp(t, standby, primary)
	if first := standby.Log().FirstOp(); first != snapshot.Meta.Op+1 {
		t.Fatalf("the standby's log starts at op %d, want %d (right after its snapshot)",
			first, snapshot.Meta.Op+1)
	}
	if !fileExists(kept) {
		t.Fatal("the standby's snapshot is no longer in place")
	}
	if stamps, _ := setAsideStamps(group.SnapshotDir, group.LogDir); len(stamps) != 0 {
		t.Fatalf("set-asides %v, want none", stamps)
	}
}
