package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// equivalentSet is the mutants judged equivalent: key → reason.
type equivalentSet map[string]string

// loadEquivalents reads a file of "key<TAB>reason" lines; blank lines and lines starting
// with # are comments. A missing file is an empty set.
func loadEquivalents(path string) (equivalentSet, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return equivalentSet{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	set := equivalentSet{}
	scanner := bufio.NewScanner(file)
	for number := 1; scanner.Scan(); number++ {
		line := scanner.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, found := strings.Cut(line, "\t")
		if _, ok := parseKey(key); !ok || !found || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want a mutant key, a tab and the reason it is equivalent", path, number)
		}
		if _, twice := set[key]; twice {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, number, key)
		}
		set[key] = strings.TrimSpace(reason)
	}
	return set, scanner.Err()
}
