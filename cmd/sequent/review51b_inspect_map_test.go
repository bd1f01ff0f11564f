package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/node"
	"sequent/wal"
)

// TestWalInspectHelpSaysADamagedShardMapExits1 (review of hunt51b): `wal inspect --help`
// and the README's exit-code table now say that inspect lists damage and "exits 1 only
// when a directory cannot be read". A data directory whose shard map file is damaged is
// not listed: inspect stops with exit 1 (an error that is not a usage error), which a
// script reading the documented contract takes for an unreadable directory. The help
// must name that case too.
func TestWalInspectHelpSaysADamagedShardMapExits1(t *testing.T) {
	dir := t.TempDir()
	log, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Append(wal.Entry{FirstOp: 1, Count: 1, Timestamp: 1,
		Body: []byte("a body")}); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(node.Layout{Dir: dir}.ShardMapPath(), []byte("damaged"),
		0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runWal("inspect", dir)
	var usage usageError
	if err == nil || errors.As(err, &usage) {
		t.Fatalf("setup: inspect of a directory with a damaged shard map: %v, want exit 1", err)
	}
	inspect, _, err := newWalCommand().Find([]string{"inspect"})
	if err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(inspect.Long), " ")
	if !strings.Contains(help, "shard map") {
		t.Errorf("wal inspect exits 1 on a damaged shard map, and --help does not say so:\n%s",
			inspect.Long)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `wal inspect` |") && !strings.Contains(line, "shard map") {
			t.Errorf("the README's exit-code row does not say so: %s", line)
		}
	}
}
