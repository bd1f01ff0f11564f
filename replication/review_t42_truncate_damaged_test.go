package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sequent/core/model"
	"sequent/wal"
)

// Review reviewt42 (session 42): truncationLeavesAState, asked whether the log cut by a
// truncate plan still rebuilds a state, must answer as recovery will.

// TestTruncateKeepsNoSnapshotWhoseBodyIsDamaged: an old primary (retiring its log, two
// snapshots kept) holds a snapshot A at the newest op it shares with its standby and a
// newer snapshot B after a divergent op; A's header is sound but its body is damaged
// (recovery fell back from it to nothing only if B was gone). When it rejoins the
// promoted standby, the truncate plan cuts after A's op. truncationLeavesAState checked
// A's header only (wal.ListSnapshots) and answered "a state remains": the truncation
// removed B and cut the log, and recovery then found A's body checksum wrong and no other
// snapshot under a log that starts after op 1 (shard.ErrNoUsableState), at this start and
// at every later one (the logs are equal then: plan stream). The check must read a
// snapshot whole before it counts it, so that the node sets its state aside and aligns
// again from an empty log, as it does when no snapshot is under the cut.
func TestTruncateKeepsNoSnapshotWhoseBodyIsDamaged(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	// The shared history (2+ segments) and snapshot A at its last op, the log retired to it.
	sharedConfig := retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 2)
	sharedWritten := reportSnapshots(&sharedConfig)
	shared := startNode(t, sharedConfig)
	writeSegmentsOfHistory(t, shared)
	snapshotA := snapshotNow(t, shared, sharedWritten).Meta
	common := shared.Log().LastOp()
	shared.Close()
	if snapshotA.Op != common {
		t.Fatalf("setup: snapshot A at op %d, the shared log ends at op %d", snapshotA.Op, common)
	}
	copyTree(t, oldDir, newDir) // The standby has everything up to common, and A.

	// The old primary's divergent entry (a snapshot request) and its snapshot B.
	oldConfig := retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 2)
	oldWritten := reportSnapshots(&oldConfig)
	old := startNode(t, oldConfig)
	snapshotB := snapshotNow(t, old, oldWritten).Meta
	firstOp := old.Log().FirstOp()
	old.Close()
	snapshots, err := wal.ListSnapshots(oldConfig.Groups[0].SnapshotDir)
	if err != nil {
		t.Fatal(err)
	}
	if firstOp <= 1 || firstOp > common+1 || snapshotB.Op <= common || len(snapshots) != 2 ||
		snapshots[1].Meta.Op != common {
		t.Fatalf("setup: want a log retired past op 1 up to A (first op %d, A at %d, B at "+
			"%d, %d snapshots)", firstOp, common, snapshotB.Op, len(snapshots))
	}
	// A's body is damaged on the old primary; its header stays sound.
	pathA := snapshots[1].Path
	data, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(pathA, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if listed, err := wal.ListSnapshots(oldConfig.Groups[0].SnapshotDir); err != nil ||
		listed[1].Err != nil {
		t.Fatalf("setup: A's header should still read (%v)", err)
	}
	if _, reader, err := wal.OpenSnapshot(pathA); err == nil {
		_, err = io.Copy(io.Discard, reader)
		reader.Close()
		if !errors.Is(err, wal.ErrSnapshotCorrupt) {
			t.Fatalf("setup: A's body should read as corrupt, got %v", err)
		}
	}

	// The promoted standby, and the old primary rejoining as its standby.
	rejoinThePromoted(t, oldDir, newDir, 2)
}

// lockedLog collects a node's log lines (written from several goroutines).
type lockedLog struct {
	mutex sync.Mutex
	text  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return l.text.Write(p)
}

func (l *lockedLog) String() string {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return l.text.String()
}

// TestOwnStateSetAsideNamesWhereTheSnapshotsAre: a crash inside setOwnStateAside after the
// node's snapshots were set aside (subdirectory replaced-<stamp>) and before its log was
// leaves a divergent log retired past op 1 and no snapshot in the snapshot directory; the
// next start, its primary up, plans the truncation again and sets the state aside again.
// Its warning, the operator's only word of where the node's own state went, named as the
// snapshots' place a new replaced-<stamp> that was never made (no snapshot was left to
// move), and not the directory that holds them. Every place it names must exist, and the
// snapshots set aside must be named.
func TestOwnStateSetAsideNamesWhereTheSnapshotsAre(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	shared := startNode(t, retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 1))
	writeSegmentsOfHistory(t, shared)
	shared.Close()
	copyTree(t, oldDir, newDir)

	// The old primary's divergent snapshot request, its only snapshot, its log retired.
	oldConfig := retiringSnapshots(nodeConfig(oldDir, freeAddress(t), ""), 1)
	written := reportSnapshots(&oldConfig)
	old := startNode(t, oldConfig)
	snapshotNow(t, old, written)
	firstOp := old.Log().FirstOp()
	old.Close()
	if firstOp <= 1 {
		t.Fatalf("setup: the log was not retired (first op %d)", firstOp)
	}
	// What the crash left: the snapshots set aside, the log in place.
	snapshotDir := oldConfig.Groups[0].SnapshotDir
	earlier := filepath.Join(snapshotDir, "replaced-1")
	if err := setSnapshotsAside(snapshotDir, earlier); err != nil {
		t.Fatal(err)
	}
	if listed, err := wal.ListSnapshots(earlier); err != nil || len(listed) != 1 {
		t.Fatalf("setup: want the snapshot set aside in %s (%d, %v)", earlier, len(listed), err)
	}

	promoted := startNode(t, retiringSnapshots(nodeConfig(newDir, freeAddress(t), ""), 1))
	defer promoted.Close()
	promoted.submit(t, 9000, 100, model.OperationCreateAccounts, accounts(3))
	promoted.replies.wait(t, 9000)
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	logged := &lockedLog{}
	rejoinConfig := retiringSnapshots(nodeConfig(oldDir, "", promoted.config.Listen), 1)
	rejoinConfig.Logger = slog.New(slog.NewTextHandler(logged, nil))
	node, err := OpenNode(ctx, rejoinConfig)
	if err != nil {
		t.Fatalf("the old primary cannot start as the new primary's standby: %v", err)
	}
	node.Close()

	var warning string
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "would leave no usable state") {
			warning = line
		}
	}
	if warning == "" {
		t.Fatalf("no warning that the state was set aside; the node logged:\n%s", logged)
	}
	namesEarlier := false
	for _, field := range strings.Fields(warning) {
		key, value, found := strings.Cut(field, "=")
		if !found || !strings.Contains(key, "kept_at") {
			continue
		}
		for _, path := range strings.Split(strings.Trim(value, `"`), ",") {
			if path == "" {
				continue
			}
			namesEarlier = namesEarlier || path == earlier
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the warning names %s=%s, which does not exist: %v", key, path, err)
			}
		}
	}
	if !namesEarlier {
		t.Errorf("the warning does not name %s, where the node's snapshots are: %s", earlier,
			warning)
	}
}

// TestStartOverNamesOnlyPlacesThatExist: a node with a log and no snapshot of its own
// (it never took one) told to start over from its primary's snapshot. Its warning,
// which tells the operator where its own state went, named as the snapshots' place a
// replaced-<stamp> that was never made (there was no snapshot to move). Every place the
// warning names must exist.
func TestStartOverNamesOnlyPlacesThatExist(t *testing.T) {
	nodeDir := t.TempDir()
	aloneConfig := nodeConfig(nodeDir, freeAddress(t), "")
	aloneConfig.Mode = ModeAsync
	alone := startNode(t, aloneConfig)
	alone.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	alone.replies.wait(t, 1)
	alone.Close()
	if snapshots, err := wal.ListSnapshots(aloneConfig.Groups[0].SnapshotDir); err != nil ||
		len(snapshots) != 0 {
		t.Fatalf("setup: want no snapshot of the node's own (%d, %v)", len(snapshots), err)
	}
	// The primary: another history, with a snapshot the plan offers.
	primary, _, _ := startSnapshotted(t, t.TempDir(), 3, 4)
	defer primary.Close()

	logged := &lockedLog{}
	standbyConfig := nodeConfig(nodeDir, "", primary.config.Listen)
	standbyConfig.Logger = slog.New(slog.NewTextHandler(logged, nil))
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	var warning string
	for _, line := range strings.Split(logged.String(), "\n") {
		if strings.Contains(line, "local log replaced by the primary's snapshot") {
			warning = line
		}
	}
	if warning == "" {
		t.Fatalf("no warning that the log was replaced; the node logged:\n%s", logged)
	}
	for _, field := range strings.Fields(warning) {
		key, value, found := strings.Cut(field, "=")
		if !found || !strings.Contains(key, "kept_at") {
			continue
		}
		for _, path := range strings.Split(strings.Trim(value, `"`), ",") {
			if path == "" {
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the warning names %s=%s, which does not exist: %v", key, path, err)
			}
		}
	}
}

// setSnapshotsAside moves every snapshot in dir into aside, a new subdirectory, durably,
// as setOwnStateAside did before session 43 (a crash before its log was set aside left
// this: the snapshots in replaced-<stamp>, the log in place).
func setSnapshotsAside(dir, aside string) error {
	_, err := moveSnapshots(dir, aside, func(wal.SnapshotInfo) bool { return true })
	return err
}
