package replication

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestInterruptedStartOverKeepsTheStandbysOwnState (review, session 42): a standby told
// at start to start over from its primary's snapshot (the log it needs was retired on the
// primary) deleted its own snapshots before the transfer began. Its own log was retired
// up to its own snapshot, as every node with RetireLog holds it, so that snapshot was half
// of its only state. When the primary died during the transfer, and stayed down, the
// restarted node (which starts from its local log after PrimaryWaitAtStart, to be
// promoted if its primary is lost for good) found a log starting after op 1 and no
// snapshot: shard.ErrNoUsableState, although its whole state had been on disk until the
// transfer. Its own state must stay in place until the primary's snapshot is received
// whole and durable.
//
// The primary here is scripted: it asks for a start over, sends one chunk that is not
// the last one and hangs up (as a primary killed mid-transfer does).
func TestInterruptedStartOverKeepsTheStandbysOwnState(t *testing.T) {
	// The node's own state: a snapshot, and a log retired up to it with one entry after.
	dir, lastOp, want := ownStateRetired(t)

	// A primary asks it to start over and dies during the transfer.
	address := scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
		welcomeWith(welcome{plan: planSnapshot, op: lastOp + 100, address: "p:1"}, false)(w, r)
		chunk := append(encodeUint64s(0), make([]byte, 8)...) // Offset 0, not the last.
		writeFrame(w, frameSnapshotChunk, 1, append(chunk, "the first part"...))
		w.Flush()
	})
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	if node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", address), 1)); err == nil {
		node.Close()
		t.Fatal("the standby started although its start over was cut short")
	}

	// The primary stays down: the node starts from its own state, to be promoted.
	restartsFromOwnState(t, dir, lastOp, want,
		"the node's own state is gone after a start over cut short")
}

// TestStartOverSetsTheOwnStateAside: a node that starts over from its primary's snapshot
// (here it shares no entry with the primary's log) keeps its own snapshots aside, in a
// subdirectory of its snapshot directory that no reader lists, beside its old log: its
// snapshot directory then lists the primary's snapshot only, and its state is the
// primary's.
func TestStartOverSetsTheOwnStateAside(t *testing.T) {
	// The node's own history (accounts 1 and 2, a transfer), with a snapshot of it.
	nodeDir := t.TempDir()
	alone, _, own := startSnapshotted(t, nodeDir, 1, 2)
	alone.submit(t, 2, 2, model.OperationCreateTransfers, transfer(9, 1, 2, 5))
	alone.replies.wait(t, 2)
	alone.Close()
	// The primary: another history (accounts 3 and 4), with a snapshot the plan offers.
	primary, _, offered := startSnapshotted(t, t.TempDir(), 3, 4)
	defer primary.Close()

	standby := startNode(t, nodeConfig(nodeDir, "", primary.config.Listen))
	defer standby.Close()
	snapshotDir := standby.config.Groups[0].SnapshotDir
	snapshots, err := wal.ListSnapshots(snapshotDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snapshots) != 1 || snapshots[0].Err != nil || snapshots[0].Meta != offered.Meta {
		t.Fatalf("the snapshot directory lists %+v, want the primary's snapshot at op %d only",
			snapshots, offered.Meta.Op)
	}
	kept, err := filepath.Glob(filepath.Join(snapshotDir, "replaced-*",
		filepath.Base(own.Path)))
	if err != nil || len(kept) != 1 {
		t.Fatalf("the node's own snapshot is not kept aside (%v, %v)", kept, err)
	}
	if keptAside, err := wal.ListSnapshots(filepath.Dir(kept[0])); err != nil ||
		len(keptAside) != 1 || keptAside[0].Meta != own.Meta {
		t.Fatalf("kept aside: %+v (%v), want the node's own snapshot", keptAside, err)
	}
	if _, err := os.Stat(filepath.Join(snapshotDir, receivingDirectory)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the receiving directory is left behind (%v)", err)
	}
	if got, want := standby.Node.shardDigest(t), primary.Node.shardDigest(t); got != want {
		t.Fatal("the standby's state after the start over is not the primary's")
	}
}

// waitSnapshot creates accounts ids on n, requests a snapshot of its state and returns
// it (written reports it).
func waitSnapshot(t *testing.T, n *testNode, written <-chan shard.SnapshotResult,
	ids ...uint64) shard.SnapshotResult {
	t.Helper()
	n.submit(t, 1, 1, model.OperationCreateAccounts, accounts(ids...))
	n.replies.wait(t, 1)
	return snapshotNow(t, n, written)
}

// startSnapshotted starts an async node alone in dir, listening on a free address, has it
// create accounts ids at op 1 and snapshot that (waitSnapshot); it returns the node, its
// configuration and the snapshot. The caller closes the node.
func startSnapshotted(t *testing.T, dir string, ids ...uint64) (*testNode, NodeConfig,
	shard.SnapshotResult) {
	t.Helper()
	config := nodeConfig(dir, freeAddress(t), "")
	config.Mode = ModeAsync
	written := make(chan shard.SnapshotResult, 1)
	config.Snapshots = &shard.SnapshotConfig{
		OnWritten: func(r shard.SnapshotResult) { written <- r }}
	n := startNode(t, config)
	return n, config, waitSnapshot(t, n, written, ids...)
}

// waitCaughtUp waits for standby's durable log to reach primary's last op, and fails
// the test unless both then hold the same state.
func waitCaughtUp(t *testing.T, standby, primary *testNode) {
	t.Helper()
	waitFor(t, "the standby to catch up", func() bool {
		return standby.Log().Durable() >= primary.Log().LastOp()
	})
	if got, want := standby.Node.shardDigest(t), primary.Node.shardDigest(t); got != want {
		t.Fatal("the standby's state is not the primary's")
	}
}

// TestStartSetsASnapshotOfAnotherHistoryAside: a snapshot of another history in a node's
// snapshot directory (one that an earlier version's start over left beside the old log
// when a crash cut it short, or one copied in by hand) is skipped by recovery, but it
// stayed listed, where the readers that pick a snapshot by op alone take it for the
// node's own: the shard's prune (which keeps the newest at or before capture's held op)
// and its log retirement (up to the oldest snapshot kept), after which the log can no
// longer place its chain and recovery would take it when the newer ones are damaged. A
// start sets it aside (a subdirectory replaced-<stamp>, never deleted), so the directory
// lists the node's own snapshots only.
func TestStartSetsASnapshotOfAnotherHistoryAside(t *testing.T) {
	// Another node's snapshot at op 1 (accounts 5 and 6).
	other, _, foreign := startSnapshotted(t, t.TempDir(), 5, 6)
	other.Close()
	data, err := os.ReadFile(foreign.Path)
	if err != nil {
		t.Fatal(err)
	}
	// The node's own history: accounts 1 and 2 at op 1, a transfer at op 2.
	config := nodeConfig(t.TempDir(), freeAddress(t), "")
	config.Mode = ModeAsync
	node := startNode(t, config)
	node.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	node.replies.wait(t, 1)
	node.submit(t, 2, 2, model.OperationCreateTransfers, transfer(9, 1, 2, 5))
	node.replies.wait(t, 2)
	node.Close()
	snapshotDir := config.Groups[0].SnapshotDir
	if err := os.MkdirAll(snapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(snapshotDir, filepath.Base(foreign.Path))
	if err := os.WriteFile(leftover, data, 0o644); err != nil {
		t.Fatal(err)
	}

	restarted := startNode(t, config)
	defer restarted.Close()
	snapshots, err := wal.ListSnapshots(snapshotDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range snapshots {
		if info.Meta.OfAnotherHistory(restarted.Log()) {
			t.Fatalf("the snapshot directory still lists %s, of another history, after a start",
				info.Path)
		}
	}
	kept, err := filepath.Glob(filepath.Join(snapshotDir, "replaced-*", filepath.Base(foreign.Path)))
	if err != nil || len(kept) != 1 {
		t.Fatalf("the snapshot of another history is not kept aside (%v, %v)", kept, err)
	}
	if got, want := restarted.Node.shardDigest(t), digestOf(t, restarted.Node); got != want {
		t.Fatal("the restarted node's state is not that of its own log")
	}
}
