package main

import (
	"context"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/wal"
)

// TestWalArchiveKeepsEveryShardsSegments (hunt45b): --wal-archive DIR promises that
// retired log segments are moved there instead of deleted (README "Snapshots and log
// retention"). Every shard's log numbers its segments from 1, and every shard of a node
// was given the same DIR: shard 1's segment 1 was renamed over shard 0's, and so on, so
// the archive silently lost one shard's retired log (a rename replaces an existing
// file). A node of two shards retires segments on both; the archive must then hold each
// shard's retired segments, every one.
func TestWalArchiveKeepsEveryShardsSegments(t *testing.T) {
	archive, firstSegments := retiringNode(t, 2)
	want := int(firstSegments[0]-1) + int(firstSegments[1]-1)
	archived := 0
	if err := filepath.WalkDir(archive, func(path string, entry fs.DirEntry, err error) error {
		if err == nil && !entry.IsDir() && strings.HasSuffix(path, ".wal") {
			archived++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if archived != want {
		t.Fatalf("shards retired %d and %d segments into --wal-archive; it holds %d segment "+
			"files, not %d", firstSegments[0]-1, firstSegments[1]-1, archived, want)
	}
}

// firstSegment returns the number of the oldest segment file in a log directory.
func firstSegment(t *testing.T, logDir string) uint64 {
	t.Helper()
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	first := uint64(0)
	for _, entry := range entries {
		number, err := strconv.ParseUint(strings.TrimSuffix(entry.Name(), ".wal"), 10, 64)
		if err == nil && strings.HasSuffix(entry.Name(), ".wal") && (first == 0 || number < first) {
			first = number
		}
	}
	return first
}

// retiringNode runs a node of shards shards with --wal-archive, --snapshots-keep 1 and
// the smallest segments, fills more than a segment on every shard, snapshots every shard
// and waits until each has retired a segment at least. It returns the archive and each
// shard's oldest remaining segment number (the node is stopped at the test's end).
func retiringNode(t *testing.T, shards int) (string, []uint64) {
	t.Helper()
	dir, archive := t.TempDir(), t.TempDir()
	dev, err := netio.GenerateDevKeys(node.Layout{Dir: dir}.KeysPath())
	if err != nil {
		t.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.address, options.logLevel = dir, "127.0.0.1:0", "error"
	options.accountsCapacity, options.transfersCapacity = 1<<17, 1<<10
	options.placement = shardmap.Spec{Shards: shards, Placement: "hash"}
	options.walArchive, options.walSegmentBytes = archive, wal.SegmentBytesMin
	options.snapshotEvery, options.snapshotsKept = 0, 1
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = running.stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	// Accounts with random ids and user data: they compress little, so a few requests
	// fill more than one segment on each shard (hash placement splits them).
	random := rand.New(rand.NewPCG(45, 2))
	const requests, perRequest = 12, 8000
	for r := 0; r < requests; r++ {
		accounts := make([]model.Account, perRequest)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.Uint128{Lo: random.Uint64() | 1, Hi: random.Uint64() >> 1},
				UserData128: model.Uint128{Lo: random.Uint64(), Hi: random.Uint64()},
				UserData64:  random.Uint64(), Ledger: 1, Code: 1}
		}
		if _, err := c.CreateAccounts(ctx, accounts); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range running.groups.Shards() {
		s.RequestSnapshot()
	}
	// Each shard retires the segments its snapshot covers (Keep 1): its first segment
	// goes at least.
	firstSegments := make([]uint64, shards)
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for index := range firstSegments {
		logDir := node.Layout{Dir: dir}.LogDir(index)
		for {
			firstSegments[index] = firstSegment(t, logDir)
			if firstSegments[index] > 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard %d retired no segment", index)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return archive, firstSegments
}

// TestWalVerifyReadsAnArchive (hunt45b): README ("the hash chain check") tells an
// operator to "check the archive with `sequent wal verify DIR`", and SequentCaptureGap's
// runbook to read the archived log with `sequent wal inspect` on --wal-archive. Both
// took DIR for a data directory and failed on an archive ("open DIR/log: no such file or
// directory"). An archive of a one-shard node must inspect and verify as a log.
func TestWalVerifyReadsAnArchive(t *testing.T) {
	archive, _ := retiringNode(t, 1)
	for _, subcommand := range []string{"inspect", "verify"} {
		out, err := runWal(subcommand, archive)
		if err != nil {
			t.Errorf("sequent wal %s ARCHIVE: %v\n%s", subcommand, err, out)
		} else if subcommand == "verify" && !strings.Contains(out, "verify: ok") {
			t.Errorf("sequent wal verify ARCHIVE:\n%s", out)
		}
	}
}
