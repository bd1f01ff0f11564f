package e2e

import (
	"os"
	"testing"
)

// TestHunt53cRestartOnAFullDisk: a server crashes (SIGKILL) on a file system that is full
// by then; it restarts there, as a supervisor restarts it. The running server meets a
// full disk gracefully (reads served, writes refused log_full until space returns:
// TestDiskFullRefusesAndResumes), so the restarted one must too: start, and serve every
// acknowledged transfer. It did not: every start rewrites the epoch file (replication
// StoreEpoch, called by NewNode even when the file already holds that epoch), which
// needs a free block, so the start failed with "replication: store epoch 1: write
// .../epoch.tmp: no space left on device" and the node stayed down, reads included,
// until an operator freed space. Skipped where tmpfs cannot be mounted (not root).
func TestHunt53cRestartOnAFullDisk(t *testing.T) {
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
	ballast := fillFileSystem(t, data, 0)
	node0.restart() // Fails the test if the process exits.
	reader := dial(t, data, 2, node0.address)
	ctx, cancel := context30s()
	defer cancel()
	checkExactlyOnce(t, ctx, reader, l, accountCount)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	node0.stop()
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}
