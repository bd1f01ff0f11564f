package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClaimSharesTheListOnce: runs given the same -claim directory take the packages of
// the list in the same order (most listed mutants first), and each package is claimed by
// exactly one of them, whatever the order their claims arrive in; a run skips the
// packages another claimed first without loading them.
func TestClaimSharesTheListOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guard.txt")
	text := `core/model/grant.go f boundary "a < b"→"<=" #1` + "\tTestA\n" +
		`wal/scan.go g remove "return nil"→"" #1` + "\tTestB\n" +
		`wal/scan.go h negate "x == y"→"!=" #2` + "\tTestC\n" +
		`core/risk/limit.go i negate "x == y"→"!=" #1` + "\tTestD\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	claims := t.TempDir()
	o, patterns, err := parseOptions([]string{"-keys", path, "-claim", claims})
	if err != nil || !slices.Equal(patterns, []string{"./wal", "./core/model", "./core/risk"}) {
		t.Fatalf("packages to claim: %v (%v), want the most listed first", patterns, err)
	}
	for _, arguments := range [][]string{{"-keys", path, "-claim", claims, "-part", "1/2"},
		{"-keys", path, "-claim", claims, "./wal"}, {"-claim", claims, "./wal"}} {
		if _, _, err := parseOptions(arguments); err == nil {
			t.Fatalf("%v accepted", arguments)
		}
	}
	// Two runs claiming in turn: every package once, none twice.
	taken := map[string]int{}
	for i, pattern := range append(slices.Clone(patterns), patterns...) {
		mine, err := claim(claims, pattern)
		if err != nil {
			t.Fatal(err)
		}
		if mine != (i < len(patterns)) {
			t.Fatalf("claim %d of %s: %v", i, pattern, mine)
		}
		if mine {
			taken[pattern]++
		}
	}
	if len(taken) != len(patterns) {
		t.Fatalf("claimed %v, want each of %v once", taken, patterns)
	}
	// Names that differ only where a path separator was stay apart.
	for _, pattern := range []string{"./a/b", "./a%2Fb"} {
		if mine, err := claim(claims, pattern); err != nil || !mine {
			t.Fatalf("claim of %s: %v (%v), want it taken", pattern, mine, err)
		}
	}
	// Every package already claimed: the run tests nothing (the listed keys name no real
	// code, so loading any package would fail the run).
	var out strings.Builder
	if err := run(context.Background(), o, patterns, &out); err != nil {
		t.Fatalf("run over claimed packages: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "==") {
		t.Fatalf("a claimed package was tested:\n%s", out.String())
	}
	if _, err := claim(filepath.Join(claims, "missing"), "./wal"); err == nil {
		t.Fatal("claim in a directory that does not exist succeeded")
	}
}
