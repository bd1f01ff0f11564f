package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/core/node"
)

// TestHunt53cSnapshotOnAFullDiskFailsCleanlyAndResumes: the file system fills up while
// the log still has room in its preallocated segment, so the writes go on but the
// snapshots (every 20 ops) meet ENOSPC. A failed snapshot must leave no partial file
// behind (a half-written temporary eats the space that the operator frees, and a file
// with a final name must always be complete), /healthz must say snapshot_failed, every
// write must still be acknowledged; once space is freed the next snapshot succeeds and
// the problem clears; after a SIGKILL and a restart every acknowledged transfer is there
// exactly once and `sequent wal verify` agrees with every snapshot. Skipped where tmpfs
// cannot be mounted (not root).
func TestHunt53cSnapshotOnAFullDiskFailsCleanlyAndResumes(t *testing.T) {
	data := mountSmallFileSystem(t, 40<<20)
	httpAddress := freePort(t)
	node0 := startServer(t, data, freePort(t), "--http", httpAddress, "--snapshot-every", "20",
		"--wal-segment-bytes", "8388608", "--data-free-bytes-warn", "1048576",
		"--accounts-capacity", "64", "--transfers-capacity", "262144")
	base := "http://" + httpAddress
	snapshots := node.Layout{Dir: data}.SnapshotDir(0)
	c := dial(t, data, 1, node0.address)
	const accountCount = 8
	createNumberedAccounts(t, c, accountCount)
	l := newLoad(c, accountCount)
	ctx, cancel := context.WithTimeout(context.Background(), diskFullPhaseMax)
	defer cancel()
	send := func(phase string, batches int) {
		t.Helper()
		for range batches {
			transfers := make([]model.Transfer, 500)
			for i := range transfers {
				l.nextID++
				debit := l.nextID%accountCount + 1
				transfers[i] = transfer(l.nextID, debit, debit%accountCount+1, l.nextID%97+1)
				l.sent[l.nextID] = transfers[i]
			}
			results, err := c.CreateTransfers(ctx, transfers)
			if err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
			for i, result := range results {
				if result.Status != model.StatusOK {
					t.Fatalf("%s: transfer %d: %s", phase, transfers[i].ID.Lo, result.Status)
				}
				l.acknowledged[transfers[i].ID.Lo] = true
			}
		}
	}
	send("before the disk is full", 30)
	eventually(t, "a first snapshot", func() bool { return len(snapshotFiles(t, snapshots)) > 0 })
	var space syscall.Statfs_t
	if err := syscall.Statfs(data, &space); err != nil {
		t.Fatal(err)
	}
	const leftBytes = 16 << 10 // Far less than a snapshot of 15,000 transfers.
	available := int64(space.Bavail) * int64(space.Bsize)
	ballast := filepath.Join(data, "ballast")
	if err := os.WriteFile(ballast, make([]byte, available-leftBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, snapshots)
	send("while the disk is full (the log's segment has room)", 60)
	eventually(t, "/healthz to report snapshot_failed", func() bool {
		return get(t, base+"/healthz").says("snapshot_failed")
	})
	for _, name := range snapshotFiles(t, snapshots) {
		if strings.HasSuffix(name, ".tmp") {
			t.Fatalf("a failed snapshot left %s behind (snapshots before: %v)", name, before)
		}
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	send("after space was freed", 40)
	eventually(t, "a snapshot to succeed and snapshot_failed to clear", func() bool {
		return !get(t, base+"/healthz").says("snapshot_failed")
	})
	node0.kill()
	node0.restart()
	reader := dial(t, data, 2, node0.address)
	checkExactlyOnce(t, ctx, reader, l, accountCount)
	node0.stop()
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}

// snapshotFiles lists the names in a shard's snapshot directory (none while it does not
// exist yet).
func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	return names
}
