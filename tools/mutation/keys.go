package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// testSelection builds what picks each mutant's tests: the per-test coverage map, or,
// when every chosen mutant was listed with the tests that must kill it (-keys), just a
// check that those tests pass unmutated (far cheaper than a coverage map).
func testSelection(ctx context.Context, o *options, t *target, chosen []*Mutant, scratch string,
	progress func(string)) (*coverageMap, error) {
	var named []string
	for _, m := range chosen {
		tests := o.keys[m.Key()]
		if len(tests) == 0 {
			return buildCoverage(ctx, t, scratch, progress)
		}
		for _, test := range tests {
			if !slices.Contains(named, test) {
				named = append(named, test)
			}
		}
	}
	if len(named) == 0 {
		return &coverageMap{}, nil // Nothing chosen: nothing to run.
	}
	return baselineNamed(ctx, t, named)
}

// checkListedKeys fails when -keys lists a mutant of this package that the code no
// longer has (the list went stale: the code moved on, the guard must follow).
func checkListedKeys(o *options, t *target, all []*Mutant) error {
	if o.keys == nil {
		return nil
	}
	var listed []string
	for key := range o.keys {
		listed = append(listed, key)
	}
	if stale := staleKeys(listed, t, all); len(stale) > 0 {
		return fmt.Errorf("listed mutants not found in %s (update the list):\n%s", t.ImportPath,
			strings.Join(stale, "\n"))
	}
	return nil
}

// staleKeys returns the keys of this package's files that no mutant of the code has.
func staleKeys(keys []string, t *target, all []*Mutant) []string {
	present := map[string]bool{}
	for _, m := range all {
		present[m.Key()] = true
	}
	directory := path.Dir(t.Files[0].Relative)
	var stale []string
	for _, key := range keys {
		file, _ := parseKey(key)
		if path.Dir(file) == directory && !present[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	return stale
}

// keyPackages returns the packages (./directory, sorted) whose files a -keys list names.
func keyPackages(keys map[string][]string) []string {
	var packages []string
	for key := range keys {
		file, _ := parseKey(key)
		if pattern := "./" + path.Dir(file); !slices.Contains(packages, pattern) {
			packages = append(packages, pattern)
		}
	}
	sort.Strings(packages)
	return packages
}

// loadKeys reads a -keys file: one mutant key per line, optionally followed by a tab and
// the comma-separated tests that must kill it; # starts a comment line.
func loadKeys(file string) (map[string][]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	keys := map[string][]string{}
	for number, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, tests, _ := strings.Cut(line, "\t")
		if _, ok := parseKey(key); !ok {
			return nil, fmt.Errorf("%s:%d: not a mutant key", file, number+1)
		}
		keys[key] = nil
		for _, test := range strings.Split(tests, ",") {
			if test = strings.TrimSpace(test); test != "" {
				keys[key] = append(keys[key], test)
			}
		}
	}
	return keys, nil
}
