package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/core/node"
)

// TestHunt53cSnapshotOnAFullDiskFailsCleanlyAndResumes: the file system fills up while
// the log still has room in its preallocated segment, so the writes go on but the
// snapshots (asked for through the admin API) meet ENOSPC. A failed snapshot must leave no partial file
// behind (a half-written temporary eats the space that the operator frees, and a file
// with a final name must always be complete), /healthz must say snapshot_failed, every
// write must still be acknowledged; once space is freed the next snapshot succeeds and
// the problem clears; after a SIGKILL and a restart every acknowledged transfer is there
// exactly once and `sequent wal verify` agrees with every snapshot. Skipped where tmpfs
// cannot be mounted (not root).
func TestHunt53cSnapshotOnAFullDiskFailsCleanlyAndResumes(t *testing.T) {
	data := mountSmallFileSystem(t, 40<<20)
	httpAddress := freePort(t)
	node0 := startServer(t, data, freePort(t), "--http", httpAddress, "--snapshot-every", "0",
		"--wal-segment-bytes", "8388608", "--data-free-bytes-warn", "1048576",
		"--accounts-capacity", "64", "--transfers-capacity", "262144")
	base := "http://" + httpAddress
	token := adminTokenOf(t, filepath.Join(data, "keys.json"))
	snapshotNow := func() { // Through the admin API: --snapshot-every waits 10 s between two.
		t.Helper()
		request, _ := http.NewRequest(http.MethodPost, base+"/v1/admin/snapshot", nil)
		request.Header.Set("Authorization", "Bearer "+token)
		response, err := (&http.Client{Timeout: hangGuard}).Do(request)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
		response.Body.Close()
		t.Logf("snapshot requested: HTTP %d %s", response.StatusCode, strings.TrimSpace(string(body)))
	}
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
	snapshotNow()
	eventually(t, "a first snapshot", func() bool { return snapshotWritten(t, snapshots) })
	ballast := fillFileSystem(t, data, 16<<10) // Far less than a snapshot of 15,000 transfers.
	before := snapshotFiles(t, snapshots)
	send("while the disk is full (the log's segment has room)", 30)
	snapshotNow()
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
	send("after space was freed", 10)
	snapshotNow()
	eventually(t, "a snapshot to succeed and snapshot_failed to clear", func() bool {
		return snapshotProblemCleared(t, base)
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

// snapshotProblemCleared reports whether the server's /healthz answers without
// snapshot_failed (one that does not answer says nothing: review-hunt53c).
func snapshotProblemCleared(t *testing.T, base string) bool {
	t.Helper()
	health := get(t, base+"/healthz")
	return health.code != 0 && !health.says("snapshot_failed")
}

// snapshotWritten reports whether dir holds a complete snapshot: a temporary being
// written does not count (review-hunt53c: taken for the first snapshot, the disk was
// filled under its writer, which then failed, and the snapshot_failed it reported was
// taken for the next one's while that one's temporary could still be on the disk).
func snapshotWritten(t *testing.T, dir string) bool {
	t.Helper()
	return newestSnapshotOp(t, dir) > 0
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

// TestHunt53cTornTailRepairOnAFullDisk: a server crashed with a torn write after its last
// entry, on a file system that is full by then. Repairing a torn tail rewrites the segment
// (a copy of it, synced and renamed), which needs room for a whole segment: the start
// must fail with a message naming the full disk, leave no partial copy eating the space,
// and start once space is freed (over a partial copy that a crash during the repair
// would leave), with every acknowledged transfer. Skipped where tmpfs cannot be mounted
// (not root).
func TestHunt53cTornTailRepairOnAFullDisk(t *testing.T) {
	data := mountSmallFileSystem(t, 24<<20)
	node0 := startServer(t, data, freePort(t), "--snapshot-every", "0",
		"--wal-segment-bytes", "2228608", "--data-free-bytes-warn", "1048576")
	c := dial(t, data, 1, node0.address)
	const accountCount = 8
	createNumberedAccounts(t, c, accountCount)
	l := newLoad(c, accountCount)
	l.batches = 10
	l.run(2)
	l.wait()
	if l.err != nil {
		t.Fatal(l.err)
	}
	node0.kill()
	logDir := node.Layout{Dir: data}.LogDir(0)
	segment, _, end, _ := lastEntryPosition(t, logDir)
	file, err := os.OpenFile(segment, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("a torn write of an entry never acknowledged")
	if _, err := file.WriteAt(garbage, end); err != nil {
		t.Fatal(err)
	}
	file.Close()
	var space syscall.Statfs_t
	if err := syscall.Statfs(data, &space); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(data, "ballast")
	if err := os.WriteFile(ballast, make([]byte, int64(space.Bavail)*int64(space.Bsize)-(64<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	output, err := exec.CommandContext(ctx, binary, node0.args...).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("start on a full disk with a torn tail: %v (context %v)\n%s", err, ctx.Err(), output)
	}
	if !strings.Contains(string(output), "no space left on device") {
		t.Fatalf("the failed start does not name the full disk:\n%s", output)
	}
	for _, name := range snapshotFiles(t, logDir) {
		if strings.HasSuffix(name, ".tmp") {
			t.Fatalf("the failed repair left %s behind:\n%s", name, output)
		}
	}
	t.Logf("start refused on the full disk: %s", lastLines(string(output), 3))
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a repair leaves a partial copy: the next start must not
	// take it for a segment, and writes over it.
	whole, err := os.ReadFile(segment)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segment+".tmp", whole[:len(whole)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	node0.restart()
	reader := dial(t, data, 2, node0.address)
	ctx30, cancel30 := context30s()
	defer cancel30()
	checkExactlyOnce(t, ctx30, reader, l, accountCount)
	node0.stop()
	if names := snapshotFiles(t, logDir); slices.ContainsFunc(names, func(name string) bool {
		return strings.HasSuffix(name, ".tmp")
	}) {
		t.Fatalf("a partial copy is still in the log's directory after the repair: %v", names)
	}
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}

// lastLines returns the last count lines of text.
func lastLines(text string, count int) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return strings.Join(lines[max(0, len(lines)-count):], "\n")
}

// fillFileSystem writes a ballast file in dir until the file system is full (the log's
// preparer may be filling its next segment meanwhile), then gives leftBytes back, and
// returns the ballast's path.
func fillFileSystem(t *testing.T, dir string, leftBytes int64) string {
	t.Helper()
	ballast := filepath.Join(dir, "ballast")
	file, err := os.OpenFile(ballast, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	chunk := make([]byte, 64<<10)
	written := int64(0)
	for {
		n, err := file.Write(chunk)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := file.Truncate(max(0, written-leftBytes)); err != nil {
		t.Fatal(err)
	}
	return ballast
}
