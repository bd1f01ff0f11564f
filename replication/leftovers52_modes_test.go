package replication

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/wal"
)

// checkOwnerOnly fails t for each file under root with a permission bit outside
// wal.FileMode and each directory with one outside wal.DirectoryMode (a umask only
// clears bits, so this holds whatever it is), and returns the files' names.
func checkOwnerOnly(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		want := wal.FileMode
		if entry.IsDir() {
			want = wal.DirectoryMode
		} else {
			names = append(names, entry.Name())
		}
		if mode := info.Mode().Perm(); mode&^want != 0 {
			t.Errorf("%s has mode %v, want no bit outside %v", path, mode, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestStandbyWritesItsDataForItsOwnerOnly (leftovers52): a standby that starts over
// writes the snapshot it receives, its log, its epoch file and their directories, which
// were created 0644 and 0755 (any local user could read the ledger); they must be its
// owner's only.
func TestStandbyWritesItsDataForItsOwnerOnly(t *testing.T) {
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	written := reportSnapshots(&config)
	primary := startNode(t, config)
	defer primary.Close()
	writeSegmentsOfHistory(t, primary)
	snapshot := snapshotNow(t, primary, written)
	primary.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	if primary.Log().FirstOp() <= 1 || primary.Log().FirstOp() > snapshot.Meta.Op+1 {
		t.Fatalf("setup: the log (first op %d) is not retired up to the snapshot at op %d",
			primary.Log().FirstOp(), snapshot.Meta.Op)
	}

	dir := filepath.Join(t.TempDir(), "standby") // Made by the node.
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	standby, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "", primary.config.Listen), 1))
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	if got := standby.Recovery().SnapshotOp; got != snapshot.Meta.Op {
		t.Fatalf("setup: the standby started from op %d, not over from the snapshot at op %d",
			got, snapshot.Meta.Op)
	}
	names := strings.Join(checkOwnerOnly(t, dir), " ")
	for _, want := range []string{".snap", ".wal", "LOCK", "epoch"} {
		if !strings.Contains(names, want) {
			t.Errorf("setup: the standby wrote no %s file (files: %s)", want, names)
		}
	}
}

// TestWitnessRatchetMarkerIsForItsOwnerOnly (leftovers52): the signed-replies ratchet's
// marker was created 0644.
func TestWitnessRatchetMarkerIsForItsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ratchet")
	ratchet := &witnessRatchet{path: path}
	if err := ratchet.store(encodeWitnessRatchet(witnessRatchetState{epoch: 3, raisedNs: 42})); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode&^wal.FileMode != 0 {
		t.Errorf("the marker has mode %v, want no bit outside %v", mode, wal.FileMode)
	}
}
