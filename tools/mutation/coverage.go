package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// baselineTestTimeout bounds one unmutated test while the coverage map is built.
const baselineTestTimeout = 10 * time.Minute

// testCase is one top-level test of the package and what it costs unmutated.
type testCase struct {
	Name     string
	Duration time.Duration
}

// coverageMap says which tests execute which blocks of the package's files.
type coverageMap struct {
	Tests  []testCase
	blocks map[string][]coveredBlock // by file, slash path relative to the module root
}

// coveredBlock is one block of a coverage profile; Tests holds indexes into Tests of the
// tests that executed it.
type coveredBlock struct {
	startLine, startColumn, endLine, endColumn int
	Tests                                      []int
}

// buildCoverage compiles the package's test binary with coverage, lists its tests and
// runs each alone. A test that fails unmutated is an error: its verdicts would mean
// nothing.
func buildCoverage(ctx context.Context, t *target, work string, log func(string)) (*coverageMap, error) {
	binary := filepath.Join(work, "coverage.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-cover", "-covermode=set", "-o", binary, t.ImportPath)
	build.Dir = t.ModuleDir
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s with coverage: %v\n%s", t.ImportPath, err, out)
	}
	names, err := listTests(ctx, binary, t.Dir)
	if err != nil {
		return nil, err
	}
	c := &coverageMap{blocks: map[string][]coveredBlock{}}
	index := map[string]int{} // block position → index in c.blocks[file]
	for i, name := range names {
		profile := filepath.Join(work, "coverage.out")
		duration, err := runBaselineTest(ctx, binary, t.Dir, name, profile)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", t.ImportPath, name, err)
		}
		c.Tests = append(c.Tests, testCase{name, duration})
		if err := c.add(profile, i, t.ModulePath, index); err != nil {
			return nil, err
		}
	}
	var total time.Duration
	for _, test := range c.Tests {
		total += test.Duration
	}
	log(fmt.Sprintf("coverage map of %s: %d tests, %.1fs run one by one", t.ImportPath, len(c.Tests), total.Seconds()))
	return c, nil
}

// baselineAttempts is how often an unmutated test may run before its failure is taken as
// real. A test that needs a second attempt is flaky: the run goes on, but says so, since a
// flaky test can also "kill" a mutant by chance.
const baselineAttempts = 3

// runBaselineTest runs one unmutated test alone with a coverage profile and returns its
// duration.
func runBaselineTest(ctx context.Context, binary, dir, name, profile string) (time.Duration, error) {
	var out, failure []byte
	var err error
	for attempt := 1; attempt <= baselineAttempts; attempt++ {
		run := exec.CommandContext(ctx, binary, "-test.run", "^"+regexp.QuoteMeta(name)+"$",
			"-test.count=1", "-test.coverprofile="+profile,
			"-test.timeout="+baselineTestTimeout.String())
		run.Dir = dir
		started := time.Now()
		out, err = run.CombinedOutput()
		if err == nil {
			if attempt > 1 {
				fmt.Fprintf(os.Stderr, "WARNING: %s is flaky: it failed %d time(s) without any mutant before passing\n%s\n",
					name, attempt-1, tail(failure))
			}
			return time.Since(started), nil
		}
		failure = out
		if ctx.Err() != nil {
			break
		}
	}
	return 0, fmt.Errorf("fails without any mutant: %v\n%s", err, tail(out))
}

func listTests(ctx context.Context, binary, dir string) ([]string, error) {
	list := exec.CommandContext(ctx, binary, "-test.list", ".")
	list.Dir = dir
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("listing tests: %v", err)
	}
	var names []string
	for _, line := range strings.Fields(string(out)) {
		if !strings.HasPrefix(line, "Benchmark") {
			names = append(names, line)
		}
	}
	return names, nil
}

// add merges one test's profile: lines "module/dir/file.go:12.3,14.5 1 1".
func (c *coverageMap) add(profile string, test int, modulePath string, index map[string]int) error {
	data, err := os.ReadFile(profile)
	if err != nil {
		return err
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		colon := strings.LastIndexByte(line, ':')
		if colon < 0 {
			return fmt.Errorf("coverage profile line %q", line)
		}
		fields := strings.Fields(line[colon+1:])
		if len(fields) != 3 {
			return fmt.Errorf("coverage profile line %q", line)
		}
		file := strings.TrimPrefix(line[:colon], modulePath+"/")
		var b coveredBlock
		if _, err := fmt.Sscanf(fields[0], "%d.%d,%d.%d", &b.startLine, &b.startColumn, &b.endLine,
			&b.endColumn); err != nil {
			return fmt.Errorf("coverage profile line %q: %v", line, err)
		}
		key := file + ":" + fields[0]
		i, known := index[key]
		if !known {
			i = len(c.blocks[file])
			index[key] = i
			c.blocks[file] = append(c.blocks[file], b)
		}
		if count, _ := strconv.Atoi(fields[2]); count > 0 {
			c.blocks[file][i].Tests = append(c.blocks[file][i].Tests, test)
		}
	}
	return scanner.Err()
}

// selection is the tests to run for a mutant.
type selection struct {
	All      bool     // the position is outside every block: run the whole package
	Names    []string // else these (none: no test executes the mutant)
	Duration time.Duration
}

// selectTests returns the tests that execute the mutant's position.
func (c *coverageMap) selectTests(m *Mutant) selection {
	if !m.InFunction {
		return c.all()
	}
	inBlock := false
	chosen := map[int]bool{}
	for _, b := range c.blocks[m.File] {
		if b.contains(m.Line, m.Column) {
			inBlock = true
			for _, test := range b.Tests {
				chosen[test] = true
			}
		}
	}
	if !inBlock {
		return c.all()
	}
	var s selection
	for test := range chosen {
		s.Names = append(s.Names, c.Tests[test].Name)
		s.Duration += c.Tests[test].Duration
	}
	sort.Strings(s.Names)
	return s
}

func (c *coverageMap) all() selection {
	s := selection{All: true}
	for _, test := range c.Tests {
		s.Duration += test.Duration
	}
	return s
}

// contains reports whether line.column lies in [start, end) of the block.
func (b *coveredBlock) contains(line, column int) bool {
	afterStart := line > b.startLine || (line == b.startLine && column >= b.startColumn)
	beforeEnd := line < b.endLine || (line == b.endLine && column < b.endColumn)
	return afterStart && beforeEnd
}

// runPattern is the -run argument selecting exactly these top-level tests.
func runPattern(names []string) string {
	quoted := make([]string, len(names))
	for i, name := range names {
		quoted[i] = regexp.QuoteMeta(name)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

// tail returns the end of a command's output, enough to see why it failed.
func tail(out []byte) []byte {
	const keepBytes = 4096
	if len(out) > keepBytes {
		return out[len(out)-keepBytes:]
	}
	return out
}

// baselineNamed runs the named tests once unmutated (they must pass, or their verdicts on
// mutants mean nothing) and returns a map that knows only their durations.
func baselineNamed(ctx context.Context, t *target, names []string) (*coverageMap, error) {
	command := exec.CommandContext(ctx, "go", "test", "-count=1", "-vet=off", "-v", "-run",
		runPattern(names), t.ImportPath)
	command.Dir = t.ModuleDir
	started := time.Now()
	out, err := command.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: the listed tests fail without any mutant: %v\n%s",
			t.ImportPath, err, tail(out))
	}
	durations := testDurations(out)
	if missing := notPassed(names, durations); len(missing) > 0 {
		// A test that does not exist (renamed) or skips passes with its mutant too: every
		// mutant it guards would be reported as survived, which hides the cause.
		return nil, fmt.Errorf("%s: listed tests that did not run and pass without any mutant (renamed? skipped?): %s",
			t.ImportPath, strings.Join(missing, ", "))
	}
	// Each test's own duration, as go test -v reports it, sets its mutants' timeout.
	// The wall time divided among the tests (as before session 47) gave a package's
	// longest test a fraction of its time (core/match's 10 listed tests took ~170 s under
	// load, 148 s of it TestOrdersShareNeverShowsWhenCountingStarted, whose mutant then
	// timed out, counted as killed, without its test having finished once).
	c := &coverageMap{blocks: map[string][]coveredBlock{}}
	each := time.Since(started) / time.Duration(len(names))
	for _, name := range names {
		// Never less than the even share: a test whose work is in parallel subtests
		// reports its own line as 0.00s.
		c.Tests = append(c.Tests, testCase{name, max(durations[name], each)})
	}
	return c, nil
}

// passedTest matches go test -v's line for a test that passed, with its indentation
// (none for a top-level test, four spaces for its direct subtests) and its duration in
// seconds.
var passedTest = regexp.MustCompile(`(?m)^( *)--- PASS: (\S+) \(([0-9.]+)s\)`)

// testDurations returns the duration of each top-level test go test -v's output shows
// passing: its own line's, or the sum of its direct subtests' when more. A test whose
// subtests run in parallel shows 0.00s on its own line (it returns before they run), so
// the sum, an upper bound of their wall time however many run at once, stands for it.
func testDurations(out []byte) map[string]time.Duration {
	durations := map[string]time.Duration{}
	subtests := map[string]time.Duration{}
	for _, match := range passedTest.FindAllSubmatch(out, -1) {
		seconds, err := strconv.ParseFloat(string(match[3]), 64)
		if err != nil {
			continue
		}
		duration := time.Duration(seconds * float64(time.Second))
		name, indent := string(match[2]), len(match[1])
		switch parent, _, _ := strings.Cut(name, "/"); {
		case indent == 0 && !strings.Contains(name, "/"):
			durations[name] = duration
		case indent == 4:
			subtests[parent] += duration
		}
	}
	for name, duration := range durations {
		durations[name] = max(duration, subtests[name])
	}
	return durations
}

// notPassed returns the names that durations (testDurations of go test -v's output) does
// not show passing.
func notPassed(names []string, durations map[string]time.Duration) []string {
	var missing []string
	for _, name := range names {
		if _, passed := durations[name]; !passed {
			missing = append(missing, name)
		}
	}
	return missing
}

// named selects the given tests, whatever the coverage says.
func (c *coverageMap) named(names []string) selection {
	s := selection{Names: names}
	for _, test := range c.Tests {
		if slices.Contains(names, test.Name) {
			s.Duration += test.Duration
		}
	}
	return s
}
