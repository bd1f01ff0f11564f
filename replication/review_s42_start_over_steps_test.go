//go:build linux

package replication

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"sequent/core/model"
	"sequent/wal"
)

// Review reviews42 (session 42): the steps of startOverFromSnapshot after the primary's
// snapshot is received and checked, and what a failure at each leaves.

// snapshotToSend writes a valid snapshot file at op with chain (its body is not a state:
// the standby checks the header only before it replaces its own state) and returns its
// bytes, for a scripted primary to send.
func snapshotToSend(t *testing.T, op uint64, chain [32]byte) []byte {
	t.Helper()
	info, err := wal.WriteSnapshot(t.TempDir(), wal.SnapshotMeta{Op: op, Chain: chain},
		strings.NewReader("state"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// startOverPeer is a scripted primary that plans a start over at op with chain, runs
// before (if not nil) once the standby has said hello, sends snapshot whole in one chunk
// and waits for the standby to hang up.
func startOverPeer(t *testing.T, op uint64, chain [32]byte, snapshot []byte,
	before func()) string {
	return scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
		welcomeWith(welcome{plan: planSnapshot, op: op, chain: chain, address: "p:1"}, false)(w, r)
		if before != nil {
			before()
		}
		chunk := append(encodeUint64s(0), make([]byte, 8)...)
		chunk[8] = 1 // The last chunk.
		writeFrame(w, frameSnapshotChunk, 1, append(chunk, snapshot...))
		w.Flush()
		for { // Until the standby hangs up.
			if _, err := r.read(); err != nil {
				return
			}
		}
	})
}

// unmovableSnapshot puts a snapshot at op into dir that cannot be renamed into another
// directory, as a file system that refuses the move does, and returns its path: a real
// snapshot made immutable (root), or, when not root, a directory of the snapshot's name
// without write permission (moving a directory rewrites its "..").
func unmovableSnapshot(t *testing.T, dir string, op uint64) string {
	t.Helper()
	info, err := wal.WriteSnapshot(dir, wal.SnapshotMeta{Op: op}, strings.NewReader("state"))
	if err != nil {
		t.Fatal(err)
	}
	if setImmutable(info.Path, true) == nil {
		t.Cleanup(func() { setImmutable(info.Path, false) })
		return info.Path
	}
	if current, err := user.Current(); err != nil || current.Uid == "0" {
		t.Skipf("cannot make a snapshot unmovable here (no immutable flag for root: %v)", err)
	}
	if err := os.Remove(info.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(info.Path, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(info.Path, 0o755) })
	return info.Path
}

// refuseRenames makes dir refuse (on) or accept again (off) renames of its entries:
// immutable (root), or without write permission (not root).
func refuseRenames(dir string, on bool) error {
	if current, err := user.Current(); err == nil && current.Uid != "0" {
		mode := os.FileMode(0o755)
		if on {
			mode = 0o555
		}
		return os.Chmod(dir, mode)
	}
	return setImmutable(dir, on)
}

// immutableInodeFlag is FS_IMMUTABLE_FL of linux/fs.h (x/sys/unix does not name it).
const immutableInodeFlag = 0x10

// setImmutable sets or clears the immutable inode flag of path.
func setImmutable(path string, on bool) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	flags, err := unix.IoctlGetUint32(int(file.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if on {
		flags |= immutableInodeFlag
	} else {
		flags &^= immutableInodeFlag
	}
	return unix.IoctlSetPointerInt(int(file.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
}

// TestStartOverStopsWhenTheOwnSnapshotsCannotBeSetAside: a standby told to start over
// whose own snapshot cannot be moved aside (after the primary's snapshot arrived whole
// and matches the plan) stops the start with that reason, before its log is touched: the
// log stays where it is (no <LogDir>.replaced-*), and the snapshot stays listed. Since
// the received snapshot's header is checked before any own snapshot is touched,
// TestFailedStartOverKeepsTheLog's case "snapshots not removed" (an unreadable snapshot
// sent) no longer reaches this step: without this test, setSnapshotsAside's error could
// be dropped and the node would set its log aside beside a snapshot it could not move.
func TestStartOverStopsWhenTheOwnSnapshotsCannotBeSetAside(t *testing.T) {
	chain := [32]byte{7}
	address := startOverPeer(t, 5, chain, snapshotToSend(t, 5, chain), nil)
	dir := t.TempDir()
	config := nodeConfig(dir, "", address)
	snapshotDir := config.Groups[0].SnapshotDir
	own := unmovableSnapshot(t, snapshotDir, 3)

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, config)
	if err == nil {
		node.Close()
		t.Fatal("the standby started although it could not set its own snapshot aside")
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("open failed with %v, want the refused move of the node's own snapshot", err)
	}
	entries, readErr := os.ReadDir(dir)
	if readErr != nil {
		t.Fatal(readErr)
	}
	for _, entry := range entries {
		if strings.Contains(entry.Name(), "replaced") {
			t.Fatalf("the log was set aside (%s) although the own snapshot was not: %v",
				entry.Name(), err)
		}
	}
	if _, statErr := os.Stat(own); statErr != nil {
		t.Fatalf("the node's own snapshot is not in place: %v", statErr)
	}
}

// TestFailedStartOverPutsTheOwnSnapshotsBack: a start over that fails after it set the
// node's own snapshots aside but before its log is set aside (here the log's rename is
// refused) left the log in place without the snapshots. The log of a node that retires
// its log is retired up to its own snapshot, so that log alone is no state: with its
// primary down, the node (which starts from its local log after PrimaryWaitAtStart, to be
// promoted) failed with shard.ErrNoUsableState, although its own state was whole on disk,
// in replaced-<stamp>. A start over that stops before its log is set aside must put the
// node's own snapshots back (TestInterruptedStartOverKeepsTheStandbysOwnState covers the
// stop during the transfer).
func TestFailedStartOverPutsTheOwnSnapshotsBack(t *testing.T) {
	dir := t.TempDir()
	// The node's own state: a snapshot, and a log retired up to it with one entry after.
	aloneConfig := retiringSnapshots(nodeConfig(dir, freeAddress(t), ""), 1)
	written := reportSnapshots(&aloneConfig)
	alone := startNode(t, aloneConfig)
	writeSegmentsOfHistory(t, alone)
	snapshotNow(t, alone, written)
	alone.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	alone.replies.wait(t, 5000)
	if alone.Log().FirstOp() <= 1 {
		t.Fatalf("the log was not retired (first op %d)", alone.Log().FirstOp())
	}
	lastOp := alone.Log().LastOp()
	want := alone.Node.shardDigest(t)
	alone.Close()

	// A primary plans a start over and sends a whole snapshot matching its plan; the data
	// directory (the log directory's parent) refuses the log's rename meanwhile.
	chain := [32]byte{9}
	refused := make(chan error, 1)
	address := startOverPeer(t, lastOp+100, chain, snapshotToSend(t, lastOp+100, chain),
		func() { refused <- refuseRenames(dir, true) })
	t.Cleanup(func() { refuseRenames(dir, false) })
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", address), 1))
	if clearErr := refuseRenames(dir, false); clearErr != nil {
		t.Fatal(clearErr)
	}
	select {
	case refusedErr := <-refused:
		if refusedErr != nil {
			t.Skipf("the log's rename cannot be refused here: %v", refusedErr)
		}
	default:
		t.Fatalf("the primary was not asked for its snapshot: %v", err)
	}
	if err == nil {
		node.Close()
		t.Fatal("the standby started although its log could not be set aside")
	}
	if _, statErr := os.Stat(filepath.Join(dir, "log")); statErr != nil {
		t.Fatalf("the log is not in place after the failed start over: %v (start: %v)",
			statErr, err)
	}

	// The primary stays down: the node starts from its own state, to be promoted.
	restartsFromOwnState(t, dir, lastOp, want,
		"the node's own state is unusable after a start over failed before "+
			"its log was set aside")
}

// copyTree copies the regular files and directories under from into to (a closed node's
// data directory: its log, snapshots and epoch).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, entry os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		relative, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, relative)
		if entry.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTruncateBelowTheOnlySnapshotLeavesAUsableState: a primary (retiring its log, one
// snapshot kept) writes an entry its standby never receives, a snapshot request, takes
// that snapshot and retires its log up to it, then is lost; the standby is promoted. When
// the old primary comes back as the new primary's standby, the plan truncates its log
// after the newest op both share, below its only snapshot: the truncation removes that
// snapshot (it holds the divergent op) and leaves a log that starts after op 1 with no
// snapshot under it. The node never starts again (shard.ErrNoUsableState at every start:
// the next handshake finds the logs equal and plans a stream). It must come up as a
// standby of the new primary, with its state.
func TestTruncateBelowTheOnlySnapshotLeavesAUsableState(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	// The history both share: accounts and 40 requests of 1,000 transfers (2+ segments).
	shared := startNode(t, retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 1))
	writeSegmentsOfHistory(t, shared)
	common := shared.Log().LastOp()
	shared.Close()
	copyTree(t, oldDir, newDir) // The standby has every entry up to common.

	// The old primary's last entry (the snapshot request), its snapshot and retirement.
	oldConfig := retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 1)
	written := reportSnapshots(&oldConfig)
	old := startNode(t, oldConfig)
	snapshot := snapshotNow(t, old, written)
	firstOp, lastOp := old.Log().FirstOp(), old.Log().LastOp()
	old.Close()
	t.Logf("common op %d, old primary's log ops %d..%d, its snapshot at op %d", common,
		firstOp, lastOp, snapshot.Meta.Op)
	if firstOp <= 1 || snapshot.Meta.Op <= common || firstOp > common+1 {
		t.Fatalf("setup: want a log retired past op 1 that still holds op %d below its "+
			"snapshot (ops %d..%d, snapshot at op %d)", common, firstOp, lastOp,
			snapshot.Meta.Op)
	}

	// The promoted standby, and the old primary rejoining as its standby.
	rejoinThePromoted(t, oldDir, newDir, 1)
}
