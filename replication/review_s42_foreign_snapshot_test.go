package replication

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestStartIgnoresASnapshotOfAnotherHistory (review, session 42): a node that starts
// over from its primary's snapshot (plan snapshot: a demoted primary whose shared op
// the new primary has retired) writes the snapshot into its snapshot directory first,
// then sets its own log aside. Killed between the two, it holds its own divergent log
// and a snapshot of the other history at an op that log also has. Restarted while its
// primary is down, a standby starts from its local log after PrimaryWaitAtStart
// (TestStandbyStartsWithoutItsPrimary), and recovery took that snapshot, which meets
// the log by op number, and replayed the node's own divergent entries over it: a state
// of neither history, which the node serves (reads) and an operator may promote. The
// snapshot's header carries the chain hash at its op, which says it is of another
// history; recovery must not use it (the node's own log replays to its own state).
//
// The snapshot here is made by another node (Q) and copied into the directory: the
// bytes ReceiveSnapshot writes are the primary's snapshot file, copied. (A start over
// now receives into receiving/ and renames the snapshot into place only after the log
// is set aside, so it leaves no such snapshot; one an earlier version left still can be
// there, and a start now also sets it aside: TestStartSetsASnapshotOfAnotherHistoryAside.)
func TestStartIgnoresASnapshotOfAnotherHistory(t *testing.T) {
	alone := func(dir string) NodeConfig {
		config := nodeConfig(dir, freeAddress(t), "")
		config.DegradeAfter = time.Millisecond // No standby: release on local durability.
		return config
	}
	// P: its own history, one request per entry (each waits for its reply).
	pDir := t.TempDir()
	p := startNode(t, alone(pDir))
	p.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	p.replies.wait(t, 1)
	for i := uint64(0); i < 10; i++ {
		p.submit(t, 10+i, 2+i, model.OperationCreateTransfers, transfer(100+i, 1, 2, 50))
		p.replies.wait(t, 10+i)
	}
	p.Close()

	// Q: another history, snapshotted at an op P's log also ends an entry at.
	qConfig := alone(t.TempDir())
	written := make(chan shard.SnapshotResult, 1)
	qConfig.Snapshots = &shard.SnapshotConfig{
		OnWritten: func(r shard.SnapshotResult) { written <- r }}
	q := startNode(t, qConfig)
	q.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	q.replies.wait(t, 1)
	for i := uint64(0); i < 3; i++ {
		q.submit(t, 10+i, 2+i, model.OperationCreateTransfers, transfer(200+i, 2, 1, 7))
		q.replies.wait(t, 10+i)
	}
	q.Shard().RequestSnapshot()
	var snapshot shard.SnapshotResult
	select {
	case snapshot = <-written:
		if snapshot.Err != nil {
			t.Fatal(snapshot.Err)
		}
	case <-time.After(waitMax):
		t.Fatal("no snapshot on Q")
	}
	q.Close()
	if snapshot.Meta.Op >= 11 {
		t.Fatalf("Q's snapshot at op %d: P's log (11 ops) does not reach past it", snapshot.Meta.Op)
	}
	data, err := os.ReadFile(snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}
	pConfig := nodeConfig(pDir, freeAddress(t), freeAddress(t)) // A standby of a primary that is down.
	pConfig.PrimaryWaitAtStart = 100 * time.Millisecond
	snapshotDir := pConfig.Groups[0].SnapshotDir
	if err := os.MkdirAll(snapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snapshotDir, filepath.Base(snapshot.Path)), data,
		0o644); err != nil {
		t.Fatal(err)
	}

	restarted := startNode(t, pConfig)
	recovery := restarted.Groups()[0].Recovery()
	restarted.Close()
	if recovery.SnapshotPath != "" {
		t.Errorf("the start restored %s (Q's snapshot at op %d) under P's own log",
			recovery.SnapshotPath, recovery.SnapshotOp)
	}
	// What a start rebuilds from P's directory must be P's own history.
	machineConfig := pConfig.Groups[0].Machine
	fromDirectory, _, err := shard.Recover(machineConfig, restarted.Log(), snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromLog, _, err := shard.Recover(machineConfig, restarted.Log(), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fromDirectory.Digest() != fromLog.Digest() {
		t.Error("the state rebuilt from P's snapshots and log is not the state of P's log")
	}
}

// TestPlanOffersNoSnapshotOfAnotherHistory (review, session 42): a snapshot of another
// history can stay in a node's snapshot directory (TestStartIgnoresASnapshotOfAnotherHistory:
// recovery skips it, nothing removes it), and that node may be promoted (its primary
// lost for good). Planning a standby that shares no entry with its log, the primary
// picked the newest snapshot by op alone and offered that one, chain and all: the
// standby would start from a state the primary never had. The plan must skip a snapshot
// whose chain hash differs from the log's at its op (here none is left: ErrDiverged).
func TestPlanOffersNoSnapshotOfAnotherHistory(t *testing.T) {
	// Another node's snapshot at op 2 (accounts 5 and 6: not the primary's).
	otherConfig := nodeConfig(t.TempDir(), freeAddress(t), "")
	otherConfig.Mode = ModeAsync
	written := make(chan shard.SnapshotResult, 1)
	otherConfig.Snapshots = &shard.SnapshotConfig{
		OnWritten: func(r shard.SnapshotResult) { written <- r }}
	other := startNode(t, otherConfig)
	other.submit(t, 1, 1, model.OperationCreateAccounts, accounts(5, 6))
	other.replies.wait(t, 1)
	other.Shard().RequestSnapshot()
	var snapshot shard.SnapshotResult
	select {
	case snapshot = <-written:
		if snapshot.Err != nil {
			t.Fatal(snapshot.Err)
		}
	case <-time.After(waitMax):
		t.Fatal("no snapshot on the other node")
	}
	other.Close()
	data, err := os.ReadFile(snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}

	config := nodeConfig(t.TempDir(), freeAddress(t), "")
	config.Mode = ModeAsync // Replies need no standby: one entry after the other.
	primary := startNode(t, config)
	defer primary.Close()
	for i := uint64(1); i <= 3; i++ {
		primary.submit(t, i, i, model.OperationCreateAccounts, accounts(i))
		primary.replies.wait(t, i)
	}
	snapshotDir := config.Groups[0].SnapshotDir
	if err := os.MkdirAll(snapshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snapshotDir, filepath.Base(snapshot.Path)), data,
		0o644); err != nil {
		t.Fatal(err)
	}
	if snapshot.Meta.Op > primary.Log().LastOp() {
		t.Fatalf("the other snapshot at op %d is past the primary's log (%d)", snapshot.Meta.Op,
			primary.Log().LastOp())
	}
	diverged := hello{lastOp: 3, points: []wal.ChainPoint{{LastOp: 3, Chain: [32]byte{9}}}}
	w, err := primary.primary0().plan(&diverged)
	if err == nil && w.plan == planSnapshot {
		t.Fatalf("the primary offered the other history's snapshot at op %d to a standby", w.op)
	}
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("plan: %+v (%v), want ErrDiverged", w, err)
	}
}
