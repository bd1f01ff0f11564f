package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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
		if pattern := keyPackage(key); !slices.Contains(packages, pattern) {
			packages = append(packages, pattern)
		}
	}
	sort.Strings(packages)
	return packages
}

// keyPackage returns the package (./directory) of the file a mutant key names.
func keyPackage(key string) string {
	file, _ := parseKey(key)
	return "./" + path.Dir(file)
}

// partOf returns part "K/N" of packages (the ./directories of keys): the packages are
// dealt, most listed mutants first, each to the part with the fewest so far (the lowest
// part on a tie), so that N runs of the parts 1/N … N/N share the list about evenly
// and together test every package once. Each part is sorted.
func partOf(keys map[string][]string, packages []string, part string) ([]string, error) {
	var k, n int
	if _, err := fmt.Sscanf(part, "%d/%d", &k, &n); err != nil || n < 1 || k < 1 || k > n ||
		part != fmt.Sprintf("%d/%d", k, n) {
		return nil, fmt.Errorf("-part %q: want K/N with 1 <= K <= N", part)
	}
	listed := listedCounts(keys)
	order := mostListedFirst(keys, packages)
	totals := make([]int, n)
	var chosen []string
	for _, pattern := range order {
		smallest := 0
		for i := range totals {
			if totals[i] < totals[smallest] {
				smallest = i
			}
		}
		totals[smallest] += listed[pattern]
		if smallest == k-1 {
			chosen = append(chosen, pattern)
		}
	}
	sort.Strings(chosen)
	return chosen, nil
}

// listedCounts returns the number of listed mutants of each package (./directory).
func listedCounts(keys map[string][]string) map[string]int {
	listed := map[string]int{}
	for key := range keys {
		listed[keyPackage(key)]++
	}
	return listed
}

// mostListedFirst returns packages ordered by their numbers of listed mutants, most
// first (stable: equal numbers keep their order).
func mostListedFirst(keys map[string][]string, packages []string) []string {
	listed := listedCounts(keys)
	order := slices.Clone(packages)
	sort.SliceStable(order, func(i, j int) bool { return listed[order[i]] > listed[order[j]] })
	return order
}

// claim creates the file that names package pattern in directory, and reports whether
// this call created it: of the runs that share the directory (-claim), exactly one tests
// each package. The runs take the packages in the same order (most listed mutants
// first), each the next one no run has yet, so a run that drew a costly package (one
// whose tests wait out a hung mutant, or build slowly) takes fewer of the rest: the
// share follows each package's cost as measured by the run itself, which a fixed deal
// by numbers of mutants (-part) cannot (session 48's halves took 254 s and 346 s).
func claim(directory, pattern string) (bool, error) {
	name := strings.NewReplacer("%", "%25", "/", "%2F").Replace(pattern)
	file, err := os.OpenFile(filepath.Join(directory, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("-claim: %w", err)
	}
	return true, file.Close()
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
