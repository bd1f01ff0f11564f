package tools

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReviewci48RaceSkipNamesNoTestOutsideE2E: the race step's -skip applies to every
// package it runs, not only tools/e2e. A test of another race package (wal, replication,
// netio...) that has, or is given later, the name of a listed e2e test would silently
// lose the race detector; TestCIRaceSkipsOnlySequentialE2ETests looks at tools/e2e only.
func TestReviewci48RaceSkipNamesNoTestOutsideE2E(t *testing.T) {
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^race_e2e_sequential='([A-Za-z0-9_|]+)'$`).FindSubmatch(script)
	pattern := regexp.MustCompile(`(?m)^race_pattern='([^']+)'$`).FindSubmatch(script)
	if names == nil || pattern == nil {
		t.Fatal(".ci/run no longer sets race_e2e_sequential and race_pattern as this test expects")
	}
	racePackages := regexp.MustCompile(string(pattern[1]))
	declared := regexp.MustCompile(`(?m)^func (` + string(names[1]) + `)\(`)
	checked := 0
	err = filepath.WalkDir("..", func(path string, entry os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entry.IsDir() {
			if base := entry.Name(); path != ".." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		relative, _ := filepath.Rel("..", filepath.Dir(path))
		importPath := "sequent/" + filepath.ToSlash(relative)
		if !strings.HasSuffix(path, "_test.go") || !racePackages.MatchString(importPath) ||
			importPath == "sequent/tools/e2e" {
			return nil
		}
		checked++
		source, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, match := range declared.FindAllSubmatch(source, -1) {
			t.Errorf("%s declares %s, which the race step skips (race_e2e_sequential): "+
				"it would never run under the race detector", path, match[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no test file of a race package outside tools/e2e found")
	}
}
