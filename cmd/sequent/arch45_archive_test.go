package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalVerifyOfAnArchiveLeavesItsSetAsidesOut: a node that sets its history aside
// (start over, truncation leaving no state) moves each shard's archived segments into
// DIR/replaced-<stamp> (shard n: DIR/shard-n/replaced-<stamp>), as README says.
// `sequent wal verify DIR` must read the current history only (a set-aside is another
// history: read with it, the logs would not chain), taking no set-aside for a shard,
// while `sequent wal verify DIR/replaced-<stamp>` reads the set-aside one.
func TestWalVerifyOfAnArchiveLeavesItsSetAsidesOut(t *testing.T) {
	archive, _ := retiringNode(t, 2)
	copySegments := func(from, to string, damage bool) {
		t.Helper()
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(to, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, entry := range entries {
			if entry.IsDir() || !strings.HasSuffix(entry.Name(), ".wal") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(from, entry.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if damage {
				data[128+128+16] ^= 0x40 // Segment header, entry header, into the body.
			}
			if err := os.WriteFile(filepath.Join(to, entry.Name()), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	shardOneAside := filepath.Join(archive, "shard-1", "replaced-5")
	copySegments(filepath.Join(archive, "shard-1"), shardOneAside, true)
	shardZeroAside := filepath.Join(archive, "replaced-5")
	copySegments(archive, shardZeroAside, false)

	out, err := runWal("verify", archive)
	if err != nil || !strings.Contains(out, "verify: ok") ||
		strings.Count(out, "== shard") != 2 || strings.Contains(out, "replaced-") {
		t.Fatalf("sequent wal verify ARCHIVE with set-asides in it (%v):\n%s", err, out)
	}
	if out, err := runWal("verify", shardZeroAside); err != nil || !strings.Contains(out, "verify: ok") {
		t.Fatalf("sequent wal verify ARCHIVE/replaced-5 (%v):\n%s", err, out)
	}
	if out, err := runWal("verify", shardOneAside); err == nil {
		t.Fatalf("sequent wal verify of a damaged set-aside passed:\n%s", out)
	}
}
