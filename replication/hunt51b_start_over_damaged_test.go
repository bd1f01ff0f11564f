package replication

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"sequent/wal"
)

// TestStartOverRefusesAReceivedSnapshotWithADamagedBody (hunt51b): a standby keeps its
// own state (its log and snapshots) in place until the primary's snapshot is received
// whole and durable. The received snapshot was checked by its header only (op and chain
// against the plan): a body damaged on the primary's disk (which it sends as it reads
// it) passed, the standby set its own state aside and put the damaged snapshot in place,
// which recovery then could not load. With its primary down, the restarted node had an
// empty log beside a snapshot that does not read whole: it waits for its primary with
// no time limit and cannot be promoted, although its own state had been whole on disk.
// The received snapshot must read whole (every checksum, the recorded length) before
// anything of the node's own is set aside.
func TestStartOverRefusesAReceivedSnapshotWithADamagedBody(t *testing.T) {
	dir, lastOp, want := ownStateRetired(t)

	// The primary's snapshot: a valid header (the plan's op and chain), a damaged body.
	op, chain := lastOp+100, [32]byte{1, 2, 3}
	made := t.TempDir()
	info, err := wal.WriteSnapshot(made, wal.SnapshotMeta{Op: op, Chain: chain},
		bytes.NewReader(bytes.Repeat([]byte("the primary's state "), 200)))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	file[len(file)-3] ^= 0xFF // In the stored body, after the header.
	address := scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
		welcomeWith(welcome{plan: planSnapshot, op: op, chain: chain, address: "p:1"}, false)(w, r)
		chunk := append(encodeUint64s(0), 1, 0, 0, 0, 0, 0, 0, 0) // Offset 0, the last.
		writeFrame(w, frameSnapshotChunk, 1, append(chunk, file...))
		w.Flush()
	})
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	if node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", address), 1)); err == nil {
		node.Close()
		t.Fatal("the standby started over from a snapshot whose body is damaged")
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "log.replaced-*")); len(aside) != 0 {
		t.Fatalf("the standby set its own log aside for a damaged snapshot: %v", aside)
	}

	// The primary stays down: the node starts from its own state, to be promoted.
	restartsFromOwnState(t, dir, lastOp, want,
		"the node's own state is gone after a damaged start over")
}
