package replication

import (
	"context"
	"os"
	"strings"
	"testing"

	"sequent/wal"
)

// TestStartOverRefusesADamagedSnapshotAndKeepsTheOwnState (hunt51a): a start over keeps
// the node's own state in place until the primary's snapshot is received whole and
// durable. The received snapshot's header was checked against the plan, but not its
// body: a snapshot whose body is damaged on the primary's disk (its header sound, so the
// plan offers it) was put in place of the node's own state, which was set aside, and the
// node then failed to start (shard.ErrNoUsableState: the log starts after the damaged
// snapshot), at this start and at every later one, even with its primary down, although
// its own state had been whole. The start over must read the received snapshot whole
// (body checksum) before it sets anything aside, and fail with the node's state in place.
func TestStartOverRefusesADamagedSnapshotAndKeepsTheOwnState(t *testing.T) {
	dir, lastOp, want := ownStateRetired(t)
	// The primary: another history, whose only snapshot (the one the plan offers) has a
	// sound header and a damaged body.
	primary, primaryConfig, offered := startSnapshotted(t, t.TempDir(), 3, 4)
	defer primary.Close()
	snapshots, err := wal.ListSnapshots(primaryConfig.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 1 || snapshots[0].Meta.Op != offered.Meta.Op {
		t.Fatalf("setup: want the primary's one snapshot (%+v, %v)", snapshots, err)
	}
	data, err := os.ReadFile(snapshots[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-8] ^= 0xff // In the body: the header stays sound.
	if err := os.WriteFile(snapshots[0].Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if listed, err := wal.ListSnapshots(primaryConfig.Groups[0].SnapshotDir); err != nil ||
		len(listed) != 1 || listed[0].Err != nil || snapshotReadsWhole(listed[0].Path) {
		t.Fatalf("setup: want a sound header over a damaged body (%+v, %v)", listed, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", primary.config.Listen), 1))
	if err == nil {
		node.Close()
		t.Fatal("the standby started on a damaged snapshot")
	}
	if !strings.Contains(err.Error(), "does not read whole") {
		t.Fatalf("the start over failed for another reason than the damaged snapshot: %v", err)
	}

	// The primary is gone: the node starts from its own state, to be promoted.
	restartsFromOwnState(t, dir, lastOp, want,
		"the node's own state was replaced by a damaged snapshot")
}
