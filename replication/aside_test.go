package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// ownStateRetired builds, in a new directory, a node's own state whose log is retired up
// to its snapshot (keep 1) with one entry after it, as a node that retires its log holds
// it, and returns the directory, the log's last op and the state's digest.
func ownStateRetired(t *testing.T) (dir string, lastOp uint64, digest [32]byte) {
	t.Helper()
	dir = t.TempDir()
	config := retiringSnapshots(nodeConfig(dir, freeAddress(t), ""), 1)
	written := reportSnapshots(&config)
	alone := startNode(t, config)
	writeSegmentsOfHistory(t, alone)
	snapshotNow(t, alone, written)
	alone.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	alone.replies.wait(t, 5000)
	if alone.Log().FirstOp() <= 1 {
		t.Fatalf("setup: the log was not retired (first op %d)", alone.Log().FirstOp())
	}
	lastOp, digest = alone.Log().LastOp(), alone.Node.shardDigest(t)
	alone.Close()
	return dir, lastOp, digest
}

// restartsFromOwnState starts the node in dir with its primary gone (a short
// PrimaryWaitAtStart, closed at the test's end) after a start over that failed, and
// checks that it starts from its own state (ownStateRetired's lastOp and digest want);
// lost says what a start refused for lack of a usable state means.
func restartsFromOwnState(t *testing.T, dir string, lastOp uint64, want [32]byte,
	lost string) {
	t.Helper()
	restartConfig := retiringSnapshots(nodeConfig(dir, "", freeAddress(t)), 1)
	restartConfig.PrimaryWaitAtStart = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, restartConfig)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, shard.ErrNoUsableState) {
			t.Fatalf("%s: %v", lost, err)
		}
		t.Fatal(err)
	}
	restarted := &testNode{Node: node, replies: newCollector(), config: restartConfig}
	node.Start([]shard.Outputs{shard.RepliesOnly(restarted.replies)})
	t.Cleanup(func() { restarted.Close() })
	if got := restarted.Log().LastOp(); got != lastOp {
		t.Fatalf("the restarted node's log ends at op %d, want its own %d", got, lastOp)
	}
	if restarted.Node.shardDigest(t) != want {
		t.Fatal("the restarted node's state is not its own state before the start over")
	}
}

// TestSetAsideCrashAtEveryStepLeavesAUsableState: a start over, or a truncation that
// would leave no state, sets the node's snapshots and then its log aside. A crash
// (SIGKILL, power loss) between the two used to leave the log in place, retired up to
// snapshots that were no longer beside it: recovery failed (shard.ErrNoUsableState)
// until the primary came back, or the snapshots were moved back by hand. Here the
// set-aside's steps (each one rename or one directory sync) run on a copy of a node's
// own state and stop after each one, as a crash there would; then the node starts alone
// (no primary), its state from recovery on its own. Before the log's rename it must be
// the node's own state (its log and its snapshots); after it, an empty state with the
// set-aside pair complete (replaced-<stamp> holding the snapshots, <LogDir>.replaced-
// <stamp> the log), and no half-done set-aside left behind; no set-aside is pruned.
func TestSetAsideCrashAtEveryStepLeavesAUsableState(t *testing.T) {
	built, lastOp, want := ownStateRetired(t)
	const stamp = 17
	config := nodeConfig(built, "", "")
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 1 {
		t.Fatalf("setup: want one snapshot (%d, %v)", len(snapshots), err)
	}
	own := filepath.Base(snapshots[0].Path)
	// Earlier set-asides, more than are kept: pruned only once a set-aside completes and
	// its new state is in place (a start, or a crash, removes none).
	seedSetAsides(t, config.Groups[0], []int64{1, 2, 3, 4}, nil, 10)
	steps, err := setAside{snapshotDir: config.Groups[0].SnapshotDir,
		logDir: config.Groups[0].LogDir, stamp: stamp}.steps()
	if err != nil {
		t.Fatal(err)
	}
	// mkdir, one rename, two syncs; the log's rename (the commit) and sync; the rename
	// of setting-aside-<stamp> and its sync.
	const logRenameStep = 4
	if len(steps) != 8 {
		t.Fatalf("setup: %d steps, want 8", len(steps))
	}
	for done := 0; done <= len(steps); done++ {
		t.Run(fmt.Sprintf("after %d steps", done), func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, built, dir)
			config := nodeConfig(dir, "", "")
			group := config.Groups[0]
			steps, err := setAside{snapshotDir: group.SnapshotDir, logDir: group.LogDir,
				stamp: stamp}.steps()
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range steps[:done] {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			restarted := startNode(t, config) // Fails on shard.ErrNoUsableState.
			defer restarted.Close()
			if leftover, _ := filepath.Glob(filepath.Join(group.SnapshotDir,
				settingAsidePrefix+"*")); len(leftover) != 0 {
				t.Fatalf("a half-done set-aside is left behind: %v", leftover)
			}
			stamps, _ := setAsideStamps(group.SnapshotDir, group.LogDir)
			if want := 4 + min(1, max(0, done-logRenameStep)); len(stamps) != want {
				t.Fatalf("set-asides %v, want %d: none pruned by a crash or a start", stamps,
					want)
			}
			if done <= logRenameStep {
				if got := restarted.Log().LastOp(); got != lastOp {
					t.Fatalf("the log ends at op %d, want the node's own %d", got, lastOp)
				}
				if restarted.Node.shardDigest(t) != want {
					t.Fatal("the state is not the node's own")
				}
				return
			}
			if got := restarted.Log().LastOp(); got != 0 {
				t.Fatalf("the log ends at op %d after its own was set aside, want empty", got)
			}
			kept := filepath.Join(group.SnapshotDir, fmt.Sprintf("%s%d", replacedPrefix, stamp),
				own)
			if _, err := os.Stat(kept); err != nil {
				t.Fatalf("the node's own snapshot is not kept aside: %v", err)
			}
			if _, err := os.Stat(logAsidePath(group.LogDir, stamp)); err != nil {
				t.Fatalf("the node's own log is not kept aside: %v", err)
			}
		})
	}
}

// seedSetAsides makes set-asides of stamps beside group's log and in its snapshot
// directory, each with one file of bytesEach bytes on either side: both sides for
// pairs, the snapshots side only for snapshotsOnly (as a snapshot of another history).
func seedSetAsides(t *testing.T, group GroupConfig, pairs, snapshotsOnly []int64,
	bytesEach int) {
	t.Helper()
	write := func(dir string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "file"), make([]byte, bytesEach),
			0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, stamp := range append(append([]int64{}, pairs...), snapshotsOnly...) {
		write(filepath.Join(group.SnapshotDir, fmt.Sprintf("%s%d", replacedPrefix, stamp)))
	}
	for _, stamp := range pairs {
		write(logAsidePath(group.LogDir, stamp))
	}
}

// TestPruneKeepsTheNewestSetAsides: set-asides were never removed, so a node that kept
// being told to start over filled its disk. pruneSetAsides keeps the newest setAsideKept
// (by stamp, a pair counting once: its log and its snapshots go together) and removes
// the older ones on both sides; the status counts what is left and its bytes. Whatever
// else is in the directories (the log, the snapshot directory's receiving/, another
// log's set-aside) stays.
func TestPruneKeepsTheNewestSetAsides(t *testing.T) {
	dir := t.TempDir()
	group := nodeConfig(dir, "", "").Groups[0]
	seedSetAsides(t, group, []int64{10, 20, 30, 50}, []int64{40}, 100)
	untouched := []string{group.LogDir, filepath.Join(group.SnapshotDir, receivingDirectory),
		filepath.Join(dir, "other.replaced-5")}
	for _, path := range untouched {
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := setAsideStatus(group.SnapshotDir, group.LogDir); got !=
		(SetAsideStatus{Count: 5, Bytes: 900}) {
		t.Fatalf("before the prune: %+v, want 5 set-asides of 900 bytes", got)
	}
	if err := pruneSetAsides(group.SnapshotDir, group.LogDir, testLogger); err != nil {
		t.Fatal(err)
	}
	if got := setAsideStatus(group.SnapshotDir, group.LogDir); got !=
		(SetAsideStatus{Count: setAsideKept, Bytes: 500}) {
		t.Fatalf("after the prune: %+v, want %d set-asides of 500 bytes", got, setAsideKept)
	}
	for stamp, kept := range map[int64]bool{10: false, 20: false, 30: true, 40: true, 50: true} {
		paths := []string{filepath.Join(group.SnapshotDir, fmt.Sprintf("%s%d", replacedPrefix,
			stamp))}
		if stamp != 40 {
			paths = append(paths, logAsidePath(group.LogDir, stamp))
		}
		for _, path := range paths {
			if _, err := os.Stat(path); (err == nil) != kept {
				t.Errorf("%s: kept %v, want %v (%v)", path, err == nil, kept, err)
			}
		}
	}
	for _, path := range untouched {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s was removed: %v", path, err)
		}
	}
}

// startOverSetup builds a node's own history (accounts 1 and 2, snapshotted) in a new
// directory and starts a primary of another history (accounts 3 and 4, snapshotted),
// which plans a start over for that node: it returns the node's configuration, a
// standby of the primary, and the primary, which the caller closes.
func startOverSetup(t *testing.T) (NodeConfig, *testNode) {
	t.Helper()
	nodeDir := t.TempDir()
	own, _, _ := startSnapshotted(t, nodeDir, 1, 2)
	own.Close()
	primary, _, _ := startSnapshotted(t, t.TempDir(), 3, 4)
	return nodeConfig(nodeDir, "", primary.config.Listen), primary
}

// TestStartOverPrunesOlderSetAsidesOnceDone: a start over that completes (its new log
// started after the primary's snapshot) keeps the newest setAsideKept set-asides, the
// one it just made among them, and removes the older ones; Node.Status shows what is
// kept (count and bytes), summed for the node.
func TestStartOverPrunesOlderSetAsidesOnceDone(t *testing.T) {
	config, primary := startOverSetup(t)
	defer primary.Close()
	group := config.Groups[0]
	seedSetAsides(t, group, []int64{1, 2, 3, 4}, nil, 10) // Older than any time stamp.

	standby := startNode(t, config)
	defer standby.Close()
	stamps, paths := setAsideStamps(group.SnapshotDir, group.LogDir)
	if len(stamps) != setAsideKept || stamps[0] <= 4 || stamps[len(stamps)-1] != 3 {
		t.Fatalf("set-asides kept: %v, want the start over's and the newest older ones "+
			"(%d in all)", stamps, setAsideKept)
	}
	if len(paths[stamps[0]]) != 2 {
		t.Fatalf("the start over's set-aside is %v, want its log and its snapshots",
			paths[stamps[0]])
	}
	status := standby.Status()
	want := setAsideStatus(group.SnapshotDir, group.LogDir)
	if status.Groups[0].SetAside != want || status.SetAside != want ||
		want.Count != setAsideKept || want.Bytes <= 40 {
		t.Fatalf("status shows %+v (node %+v), want %+v: %d set-asides, their files' bytes",
			status.Groups[0].SetAside, status.SetAside, want, setAsideKept)
	}
}

// openWhileDialing opens a node of config in a goroutine (closing it at once if it
// opens) and returns once lines holds three refused dials of its primary ("primary not
// reachable yet"): the node is still waiting. It fails the test with notTrying and the
// log if they do not come within waitMax, and calls opened (which fails the test) if
// the open returns first. stop ends the wait and returns the open's error.
func openWhileDialing(t *testing.T, config NodeConfig, lines *lockedLog, notTrying string,
	opened func(err error)) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	result := make(chan error, 1)
	go func() {
		node, err := OpenNode(ctx, config)
		if node != nil {
			node.Close()
		}
		result <- err
	}()
	deadline := time.Now().Add(waitMax)
	for strings.Count(lines.String(), "primary not reachable yet") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s", notTrying, lines.String())
		}
		select {
		case err := <-result:
			opened(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return func() error {
		cancel()
		return <-result
	}
}

// TestEmptyStandbyWaitsAndSaysWhyItCannotBePromoted: a standby whose log is empty (a
// crash right after a start over set its state aside) holds none of the writes its peers
// acknowledged, so it must not start alone after PrimaryWaitAtStart (as a node with a
// log does, to be promoted): promoted, it would serve an empty ledger. It keeps waiting
// for its primary, and it used to say only "primary not reachable yet", as any standby
// does: the operator did not learn that this node cannot be promoted, nor why, nor where
// its state went. Its log must say so once, naming the newest set-aside.
func TestEmptyStandbyWaitsAndSaysWhyItCannotBePromoted(t *testing.T) {
	dir := t.TempDir()
	config := nodeConfig(dir, "", freeAddress(t)) // No primary there.
	config.PrimaryWaitAtStart = time.Millisecond
	lines := &lockedLog{}
	config.Logger = slog.New(slog.NewTextHandler(lines, nil))
	seedSetAsides(t, config.Groups[0], []int64{7}, nil, 1)

	// Three refused dials: the later ones come after PrimaryWaitAtStart, when a node
	// with a log of its own would have started alone.
	stop := openWhileDialing(t, config, lines, "the standby did not keep trying its primary",
		func(err error) { t.Fatalf("the empty standby stopped waiting for its primary (%v)", err) })
	if err := stop(); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("open: %v, want the wait ended by its context", err)
	}
	text := lines.String()
	if strings.Count(text, "cannot be promoted") != 1 ||
		!strings.Contains(text, "the local log is empty") ||
		!strings.Contains(text, logAsidePath(config.Groups[0].LogDir, 7)) {
		t.Fatalf("the log does not say once why the empty standby cannot be promoted, "+
			"naming its set-aside state:\n%s", text)
	}
}

// TestEmptyLogBesideASnapshotFollowsAPrimaryThatStreamsFromOpOne: a standby that crashed
// after a start over put the primary's snapshot in place and before its first entry has
// one snapshot beside an empty log. It greets its primary with last op 0; a primary
// whose log still starts at op 1 (another one than planned the start over: a failover
// since) plans a stream from op 0, not a start over, and recovery then found a snapshot
// above an empty log (shard.ErrLogBehindSnapshot) at this start and every later one. The
// log streamed from op 1 rebuilds the state: the snapshot must be set aside first.
func TestEmptyLogBesideASnapshotFollowsAPrimaryThatStreamsFromOpOne(t *testing.T) {
	primary, primaryConfig, snapshot := startSnapshotted(t, t.TempDir(), 1, 2)
	defer primary.Close()

	dir := t.TempDir()
	config := nodeConfig(dir, "", primaryConfig.Listen)
	if err := os.MkdirAll(config.Groups[0].SnapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config.Groups[0].SnapshotDir,
		filepath.Base(snapshot.Path)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	standby := startNode(t, config) // Failed with shard.ErrLogBehindSnapshot.
	defer standby.Close()
	waitCaughtUp(t, standby, primary)
}

// Status walks the set-aside states at most every setAsideCacheTime: a prune between two
// reads inside that time shows at the first read after it.
func TestSetAsideStatusIsWalkedAtMostEveryCacheTime(t *testing.T) {
	dir := t.TempDir()
	group := nodeConfig(dir, "", "").Groups[0]
	seedSetAsides(t, group, []int64{10, 20, 30, 50}, []int64{40}, 100)
	var cache setAsideCache
	start := time.Unix(1_000, 0)
	before := SetAsideStatus{Count: 5, Bytes: 900}
	if got := cache.get(group.SnapshotDir, group.LogDir, start); got != before {
		t.Fatalf("first read: %+v, want %+v", got, before)
	}
	if err := pruneSetAsides(group.SnapshotDir, group.LogDir, testLogger); err != nil {
		t.Fatal(err)
	}
	if got := cache.get(group.SnapshotDir, group.LogDir,
		start.Add(setAsideCacheTime-time.Nanosecond)); got != before {
		t.Fatalf("inside the cache time: %+v, want the cached %+v", got, before)
	}
	after := SetAsideStatus{Count: setAsideKept, Bytes: 500}
	if got := cache.get(group.SnapshotDir, group.LogDir,
		start.Add(setAsideCacheTime)); got != after {
		t.Fatalf("after the cache time: %+v, want %+v", got, after)
	}
}
