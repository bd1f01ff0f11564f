package main

import (
	"context"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/wal"
)

// TestServeWritesItsDataForItsOwnerOnly (leftovers52): a started node created its
// segments, snapshots, LOCK files, archive copies and shard map 0644 and their
// directories 0755, so any local user could read the ledger. What serve writes must be
// the owner's only: no file with a bit outside 0600, no directory with a bit outside
// 0700, whatever the umask (it can only clear bits).
func TestServeWritesItsDataForItsOwnerOnly(t *testing.T) {
	base := t.TempDir()
	data, archive := filepath.Join(base, "data"), filepath.Join(base, "archive")
	keys := filepath.Join(base, "keys.json")
	dev, err := netio.GenerateDevKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.keys, options.address, options.logLevel = data, keys, "127.0.0.1:0", "error"
	options.accountsCapacity, options.transfersCapacity = 1<<17, 1<<10
	options.placement = shardmap.Spec{Shards: 2, Placement: "hash"}
	options.walArchive, options.walSegmentBytes = archive, wal.SegmentBytesMin
	options.snapshotEvery, options.snapshotsKept = 0, 1
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer running.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	// Accounts with random ids compress little: a few requests fill more than one
	// segment on each shard, so that snapshots retire some into the archive.
	random := rand.New(rand.NewPCG(52, 2))
	for r := 0; r < 12; r++ {
		accounts := make([]model.Account, 8000)
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
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for index := 0; index < 2; index++ {
		for firstSegment(t, node.Layout{Dir: data}.LogDir(index)) <= 1 {
			if time.Now().After(deadline) {
				t.Fatalf("shard %d retired no segment", index)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	kinds := map[string]int{}
	for _, root := range []string{data, archive} {
		err := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := entry.Info()
			if err != nil {
				return err
			}
			mode := info.Mode().Perm()
			if entry.IsDir() {
				if mode&^wal.DirectoryMode != 0 {
					t.Errorf("directory %s has mode %v, want no bit outside %v", path, mode,
						wal.DirectoryMode)
				}
				return nil
			}
			if mode&^wal.FileMode != 0 {
				t.Errorf("file %s has mode %v, want no bit outside %v", path, mode, wal.FileMode)
			}
			name := entry.Name()
			switch {
			case root == archive && strings.HasSuffix(name, ".wal"):
				kinds["archive copy"]++
			case strings.HasSuffix(name, ".wal"):
				kinds["segment"]++
			case strings.HasSuffix(name, ".snap"):
				kinds["snapshot"]++
			default:
				kinds[name]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("files checked: %v", kinds)
	for _, kind := range []string{"segment", "snapshot", "archive copy", "LOCK",
		filepath.Base(node.Layout{Dir: data}.ShardMapPath()),
		filepath.Base(node.Layout{Dir: data}.EpochPath())} {
		if kinds[kind] == 0 {
			t.Errorf("setup: the node wrote no %s (files: %v)", kind, kinds)
		}
	}
}
