package replication

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
)

// TestStartOverKeepsTheArchivedLog (review hb45): --wal-archive DIR promises that the
// segments a snapshot retires are moved there instead of deleted. A node whose log had
// retired segments into the archive, started as the standby of a primary it must start
// over from (another history, the primary's log retired), sets its log aside and opens
// an empty log numbered from segment 1 again. Its next retirement renamed that new 1.wal
// over the archived 1.wal of its own history: the archive silently lost what it had been
// given (hunt45b fixed the same clash between shards, not within one shard's lives).
// Every segment archived before the start over must still be there, byte for byte: set
// aside with the log's history, in the archive's replaced-<stamp> (arch45), while the
// archive's own segments are the new history's, retired without a refusal.
func TestStartOverKeepsTheArchivedLog(t *testing.T) {
	archive := t.TempDir()
	withArchive := func(config NodeConfig) NodeConfig {
		config = retiringSnapshots(config, 1)
		config.Snapshots.ArchiveDir = archive
		return config
	}
	// The node's own history, retired into the archive.
	dir := t.TempDir()
	aloneConfig := withArchive(nodeConfig(dir, freeAddress(t), ""))
	aloneWritten := reportSnapshots(&aloneConfig)
	alone := startNode(t, aloneConfig)
	writeSegmentsOfHistory(t, alone)
	snapshotNow(t, alone, aloneWritten)
	alone.Close()
	archived := segmentFiles(t, archive)
	if len(archived) == 0 {
		t.Fatal("setup: nothing archived")
	}

	// A primary of another history, its log retired: the node starts over from its
	// snapshot, then follows it through segments of its own and retires them.
	primaryConfig := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 1)
	primaryWritten := reportSnapshots(&primaryConfig)
	primary := startNode(t, primaryConfig)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2, 3))
	primary.replies.wait(t, 1)
	writeTransfers(t, primary, 100)
	snapshotNow(t, primary, primaryWritten)
	standbyConfig := withArchive(nodeConfig(dir, "", primary.config.Listen))
	standbyWritten := make(chan shard.SnapshotResult, 4)
	standbyConfig.Snapshots.OnWritten = func(r shard.SnapshotResult) { standbyWritten <- r }
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	writeTransfers(t, primary, 200)
	snapshotNow(t, primary, primaryWritten)
	select {
	case result := <-standbyWritten:
		if result.Err != nil {
			t.Errorf("the standby's snapshot (and retirement): %v", result.Err)
		}
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatal("the standby wrote no snapshot")
	}

	asides, err := filepath.Glob(filepath.Join(archive, replacedPrefix+"*"))
	if err != nil || len(asides) != 1 {
		t.Fatalf("archive set-asides %v (%v), want one", asides, err)
	}
	setAside, now := segmentFiles(t, asides[0]), segmentFiles(t, archive)
	for name, data := range archived {
		if !bytes.Equal(setAside[name], data) {
			t.Errorf("archived segment %s of the node's first history was replaced or removed "+
				"after its start over", name)
		}
		if bytes.Equal(now[name], data) {
			t.Errorf("archived segment %s of the node's first history is still in the "+
				"archive beside the new history's", name)
		}
	}
	if len(now) == 0 {
		t.Error("the standby's new history retired nothing into the archive")
	}
}

// writeTransfers has n create 40 requests of 1,000 transfers between accounts 1 and 2
// (more than two of retiringSnapshots' segments), request numbers and connections from
// first on, each waited for.
func writeTransfers(t *testing.T, n *testNode, first uint64) {
	t.Helper()
	for i := uint64(0); i < 40; i++ {
		var body []byte
		for j := uint64(0); j < 1000; j++ {
			body = append(body, transfer(first*100000+i*1000+j, 1, 2, 1)...)
		}
		n.submit(t, first+i, first+i, model.OperationCreateTransfers, body)
		n.replies.wait(t, first+i)
	}
}

// segmentFiles returns the segment files directly in dir, by name.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, entry := range entries {
		if strings.HasSuffix(entry.Name(), ".wal") {
			data, err := os.ReadFile(filepath.Join(dir, entry.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[entry.Name()] = data
		}
	}
	return files
}
