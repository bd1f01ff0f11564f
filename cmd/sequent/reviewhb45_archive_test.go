package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalVerifyOfAnArchiveChecksEveryShard (review hb45): README tells the operator of a
// node of several shards whose window was retired to "check the archive with `sequent
// wal verify DIR`", and since hunt45b shard n ≥ 1 archives into DIR/shard-n. `sequent
// wal verify DIR` read DIR alone as one log (shard 0's) and answered "verify: ok" while
// shard 1's archived log beside it was damaged: a check that silently covered part of
// the archive. Here shard 1's oldest archived segment has one byte flipped inside its
// first entry; verifying the archive must fail and name it (and, whole, report both).
func TestWalVerifyOfAnArchiveChecksEveryShard(t *testing.T) {
	archive, _ := retiringNode(t, 2)
	// Whole, it verifies, shard by shard.
	if out, err := runWal("verify", archive); err != nil || !strings.Contains(out, "== shard 1") ||
		!strings.Contains(out, "verify: ok") {
		t.Fatalf("sequent wal verify ARCHIVE of two shards (%v):\n%s", err, out)
	}
	damaged := filepath.Join(archive, "shard-1", "00000000000000000001.wal")
	data, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	const firstEntryBody = 128 + 128 + 16 // Segment header, entry header, into the body.
	data[firstEntryBody] ^= 0x40
	if err := os.WriteFile(damaged, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runWal("verify", archive)
	if err == nil {
		t.Fatalf("sequent wal verify ARCHIVE passed with shard 1's archive damaged:\n%s", out)
	}
	if !strings.Contains(err.Error(), "shard-1") {
		t.Fatalf("sequent wal verify ARCHIVE failed without naming shard 1's archive: %v", err)
	}
}

// TestWalVerifyReadsAnArchiveWhateverItsPath (review hb45): hunt45b recognised an archive
// by globbing DIR/*.wal, so an archive whose path holds a glob metacharacter ('[', as in
// /backup/sequent[a]) matched no file and was taken for a data directory: "open
// DIR/log: no such file or directory".
func TestWalVerifyReadsAnArchiveWhateverItsPath(t *testing.T) {
	archive, _ := retiringNode(t, 1)
	bracketed := filepath.Join(t.TempDir(), "sequent[a]")
	if err := os.Rename(archive, bracketed); err != nil {
		t.Fatal(err)
	}
	if out, err := runWal("verify", bracketed); err != nil || !strings.Contains(out, "verify: ok") {
		t.Fatalf("sequent wal verify %s (%v):\n%s", bracketed, err, out)
	}
}
