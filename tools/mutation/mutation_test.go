package main

import (
	"context"
	"errors"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is a small package with one site of every operator.
const sample = `package sample

type status uint8

const (
	statusOK status = iota
	statusBad
	statusWorse
)

func check(a, b int, ok bool, name string) status {
	if a < b && ok {
		return statusBad
	}
	if !ok {
		a++
	}
	b += a * 2
	name = name + "x"
	for i := 0; i < 3; i++ {
		if i == a {
			continue
		}
		b = b & 1
	}
	if valid(name) {
		return statusWorse
	}
	_ = b
	return statusOK
}

func valid(name string) bool { return name != "" || true }
`

// mutantsOf parses and type-checks source as file sample.go and returns its mutants.
func mutantsOf(t *testing.T, source string) []*Mutant {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "sample.go", source, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	config := types.Config{Importer: importer.Default()}
	if _, err := config.Check("sample", fset, []*ast.File{file}, info); err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	for _, operator := range allOperators {
		enabled[operator] = true
	}
	return mutateFile("sample", "sample/sample.go", "/x/sample.go", fset, file, []byte(source), info, enabled)
}

// TestMutantsOfEveryOperator lists the mutants of the sample and checks that each
// operator finds its sites, that string concatenation is not offered to arithmetic, that
// a named constant moves to the next one of its type, and that every mutant parses.
func TestMutantsOfEveryOperator(t *testing.T) {
	mutants := mutantsOf(t, sample)
	var keys []string
	for _, m := range mutants {
		keys = append(keys, m.Key())
		if _, err := parser.ParseFile(token.NewFileSet(), "m.go", m.Apply([]byte(sample)), 0); err != nil {
			t.Fatalf("%s does not parse: %v", m.Key(), err)
		}
	}
	want := []string{
		`sample/sample.go check boundary "a < b"→"<=" #1`,
		`sample/sample.go check negate "a < b"→">=" #1`,
		`sample/sample.go check logical "a < b && ok"→"||" #1`,
		`sample/sample.go check drop-operand "a < b && ok"→"a < b" #1`,
		`sample/sample.go check drop-operand "a < b && ok"→"ok" #1`,
		`sample/sample.go check negate-if "a < b && ok"→"!(a < b && ok)" #1`,
		`sample/sample.go check constant "statusBad"→"statusWorse" #1`,
		`sample/sample.go check constant "statusWorse"→"statusOK" #1`,
		`sample/sample.go check remove-not "!ok"→"" #1`,
		`sample/sample.go check increment "a++"→"--" #1`,
		`sample/sample.go check remove "a++"→"" #1`,
		`sample/sample.go check increment "b += a * 2"→"-=" #1`,
		`sample/sample.go check arithmetic "a * 2"→"/" #1`,
		`sample/sample.go check remove "continue"→"" #1`,
		`sample/sample.go check bitwise "b & 1"→"|" #1`,
		`sample/sample.go check remove "return statusBad"→"" #1`,
		`sample/sample.go valid bool "true"→"false" #1`,
		`sample/sample.go check negate-if "valid(name)"→"!(valid(name))" #1`,
	}
	for _, key := range want {
		if !slices.Contains(keys, key) {
			t.Errorf("missing mutant %s", key)
		}
	}
	for _, key := range keys {
		if strings.Contains(key, `"name + \"x\""→"-"`) {
			t.Errorf("string concatenation offered to arithmetic: %s", key)
		}
		if strings.Contains(key, `remove "return statusOK"`) {
			t.Errorf("the final return of a function offered for removal: %s", key)
		}
		if strings.Contains(key, `remove "_ = b"`) {
			t.Errorf("a blank assignment offered for removal: %s", key)
		}
	}
	if t.Failed() {
		t.Logf("found:\n%s", strings.Join(keys, "\n"))
	}
}

// TestKeysIgnoreLineNumbers: inserting code above a function changes the positions of
// its mutants but not their keys, so equivalent.txt and -rerun survive unrelated edits.
func TestKeysIgnoreLineNumbers(t *testing.T) {
	before := mutantsOf(t, sample)
	shifted := strings.Replace(sample, "type status uint8", "// A comment.\n\ntype status uint8", 1)
	after := mutantsOf(t, shifted)
	if len(before) != len(after) {
		t.Fatalf("%d mutants before, %d after", len(before), len(after))
	}
	for i := range before {
		if before[i].Key() != after[i].Key() || before[i].Line+2 != after[i].Line {
			t.Fatalf("mutant %d: %s at line %d became %s at line %d", i, before[i].Key(),
				before[i].Line, after[i].Key(), after[i].Line)
		}
	}
}

// TestSameTextGetsOrdinals: two identical sites in one function get #1 and #2.
func TestSameTextGetsOrdinals(t *testing.T) {
	source := "package sample\n\nfunc f(a, b int) bool { return a < b || a < b }\n"
	var boundaries []string
	for _, m := range mutantsOf(t, source) {
		if m.Operator == operatorBoundary {
			boundaries = append(boundaries, m.Key())
		}
	}
	want := []string{`sample/sample.go f boundary "a < b"→"<=" #1`, `sample/sample.go f boundary "a < b"→"<=" #2`}
	if !slices.Equal(boundaries, want) {
		t.Fatalf("boundary mutants %q, want %q", boundaries, want)
	}
}

// TestDiffShowsTheChangedLine: the diff of a survivor shows the line before and after.
func TestDiffShowsTheChangedLine(t *testing.T) {
	for _, m := range mutantsOf(t, sample) {
		if m.Key() == `sample/sample.go check boundary "a < b"→"<=" #1` {
			want := "  - if a < b && ok {\n  + if a <= b && ok {\n"
			if got := m.Diff([]byte(sample)); got != want {
				t.Fatalf("diff %q, want %q", got, want)
			}
			return
		}
	}
	t.Fatal("mutant not found")
}

// TestClassify maps go test's exit and output to outcomes.
func TestClassify(t *testing.T) {
	exit := exec.Command("false").Run()
	for _, c := range []struct {
		err, deadline error
		out, want     string
		test          string
	}{
		{nil, nil, "ok  \tsequent/wal\t1.2s\n", outcomeSurvived, ""},
		{exit, nil, "--- FAIL: TestDamage (0.50s)\n    damage_test.go:12: boom\nFAIL\n", outcomeKilled, "TestDamage"},
		{exit, nil, "panic: runtime error: index out of range\n", outcomeKilled, "panic: runtime error: index out of range"},
		{exit, nil, "panic: test timed out after 30s\n", outcomeTimedOut, ""},
		{exit, errors.New("x"), "", outcomeKilled, "(go test failed)"},
		{exit, errContextDeadline(), "", outcomeTimedOut, ""},
		{exit, nil, "FAIL\tsequent/wal [build failed]\n", outcomeNotViable, ""},
	} {
		v := classify(c.err, c.deadline, []byte(c.out))
		if v.Outcome != c.want || v.Test != c.test {
			t.Fatalf("output %q: %s %q, want %s %q", c.out, v.Outcome, v.Test, c.want, c.test)
		}
	}
}

func errContextDeadline() error {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	return ctx.Err()
}

// TestCoverageSelection: a mutant runs the tests that cover its position; a covered
// block no test executed means not covered; code outside any function runs every test.
func TestCoverageSelection(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	c := &coverageMap{Tests: []testCase{{"TestA", time.Second}, {"TestB", 2 * time.Second}},
		blocks: map[string][]coveredBlock{}}
	index := map[string]int{}
	for test, counts := range [][2]int{{1, 0}, {1, 1}} {
		text := "mode: set\nsequent/wal/scan.go:10.2,12.3 1 " + string(rune('0'+counts[0])) +
			"\nsequent/wal/scan.go:20.5,20.40 1 " + string(rune('0'+counts[1])) +
			"\nsequent/wal/scan.go:30.1,31.1 1 0\n"
		if err := os.WriteFile(profile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.add(profile, test, "sequent", index); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		line, column int
		inFunction   bool
		all          bool
		names        []string
	}{
		{11, 7, true, false, []string{"TestA", "TestB"}},
		{20, 10, true, false, []string{"TestB"}},
		{30, 5, true, false, nil},
		{50, 1, true, true, nil},
		{11, 7, false, true, nil},
	} {
		got := c.selectTests(&Mutant{File: "wal/scan.go", Line: s.line, Column: s.column, InFunction: s.inFunction})
		if got.All != s.all || !slices.Equal(got.Names, s.names) {
			t.Fatalf("position %d:%d: all %v names %v, want all %v names %v", s.line, s.column,
				got.All, got.Names, s.all, s.names)
		}
	}
	if pattern := runPattern([]string{"TestA", "Test_B"}); pattern != "^(TestA|Test_B)$" {
		t.Fatalf("run pattern %q", pattern)
	}
}

// TestEquivalentFile reads key<TAB>reason lines and refuses malformed ones.
func TestEquivalentFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "equivalent.txt")
	key := `wal/log.go Options.withDefaults boundary "o.SyncInterval < 0"→"<=" #1`
	good := "# comment\n\n" + key + "\tzero is replaced by the default before the check\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := loadEquivalents(path)
	if err != nil || set[key] != "zero is replaced by the default before the check" {
		t.Fatalf("loaded %v (%v)", set, err)
	}
	for _, bad := range []string{key + "\n", key + "\t \n", "no key\treason\n", key + "\ta\n" + key + "\tb\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadEquivalents(path); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	if set, err := loadEquivalents(filepath.Join(dir, "missing")); err != nil || len(set) != 0 {
		t.Fatalf("a missing file: %v %v", set, err)
	}
}

// TestScore: timed out counts as killed, not covered as survived, and the interval
// brackets the score.
func TestScore(t *testing.T) {
	c := counts{outcomeKilled: 80, outcomeTimedOut: 5, outcomeSurvived: 10, outcomeNotCovered: 5,
		outcomeNotViable: 7, outcomeEquivalent: 3, outcomeNotRun: 9}
	score, low, high, n := c.score()
	if n != 100 || score != 0.85 || low >= score || high <= score || low < 0.75 || high > 0.92 {
		t.Fatalf("score %v in [%v, %v] of %d", score, low, high, n)
	}
}

// TestChooseIsDeterministic: the same seed picks the same mutants in the same order;
// another seed another sample.
func TestChooseIsDeterministic(t *testing.T) {
	mutants := mutantsOf(t, sample)
	keys := func(seed uint64) []string {
		var list []string
		for _, m := range choose(&options{seed: seed, sample: 5}, "sample", slices.Clone(mutants)) {
			list = append(list, m.Key())
		}
		return list
	}
	if a, b := keys(1), keys(1); !slices.Equal(a, b) || len(a) != 5 {
		t.Fatalf("seed 1 twice: %v, %v", a, b)
	}
	if a, b := keys(1), keys(2); slices.Equal(a, b) {
		t.Fatalf("seeds 1 and 2 chose the same mutants: %v", a)
	}
}

// TestGuardKeys reads a -keys file (key, optional tab and tests) and refuses a listed key
// the code no longer has, so that a guard list cannot silently go stale.
func TestGuardKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "guard.txt")
	present := `sample/sample.go check boundary "a < b"→"<=" #1`
	text := "# guard\n" + present + "\tTestA, TestB\n" +
		`sample/sample.go check negate "a < b"→">=" #1` + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := loadKeys(path)
	if err != nil || !slices.Equal(keys[present], []string{"TestA", "TestB"}) || len(keys) != 2 {
		t.Fatalf("loaded %v (%v)", keys, err)
	}
	target := &target{ImportPath: "sample", Files: []targetFile{{Relative: "sample/sample.go"}}}
	if err := checkListedKeys(&options{keys: keys}, target, mutantsOf(t, sample)); err != nil {
		t.Fatalf("present keys refused: %v", err)
	}
	keys[`sample/sample.go check boundary "a < c"→"<=" #1`] = nil
	keys[`other/other.go f boundary "x < y"→"<=" #1`] = nil // Another package's: not checked here.
	err = checkListedKeys(&options{keys: keys}, target, mutantsOf(t, sample))
	if err == nil || !strings.Contains(err.Error(), `"a < c"`) || strings.Contains(err.Error(), "other.go") {
		t.Fatalf("stale key: %v", err)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeys(path); err == nil {
		t.Fatal("accepted a line that is not a key")
	}
}

// TestRerunCarriesOver: a -rerun tests again only the earlier survivors; the earlier
// sample's other outcomes count again, except for mutants the code no longer has.
func TestRerunCarriesOver(t *testing.T) {
	earlier := &report{Packages: []packageReport{{Package: "sample", Mutants: []mutantEntry{
		{Key: "a", Outcome: outcomeKilled}, {Key: "b", Outcome: outcomeSurvived},
		{Key: "c", Outcome: outcomeNotViable}, {Key: "gone", Outcome: outcomeKilled},
	}}, {Package: "other", Mutants: []mutantEntry{{Key: "x", Outcome: outcomeKilled}}}}}
	o := &options{previous: earlier, rerun: survivorKeys(earlier)}
	if !o.rerun["b"] || len(o.rerun) != 1 {
		t.Fatalf("rerun keys %v", o.rerun)
	}
	p := &packageReport{Package: "sample", Counts: counts{outcomeKilled: 1}, // b, killed now
		Mutants: []mutantEntry{{Key: "b", Outcome: outcomeKilled}}}
	carried, gone := carryOver(o, p, map[string]bool{"a": true, "b": true, "c": true, "x": true})
	if carried != 2 || gone != 1 || p.Counts[outcomeKilled] != 2 || p.Counts[outcomeNotViable] != 1 ||
		p.Counts[outcomeSurvived] != 0 || len(p.Mutants) != 3 || !p.Mutants[1].Carried {
		t.Fatalf("carried %d: counts %v, mutants %+v", carried, p.Counts, p.Mutants)
	}
}

// TestRejudge: -report applies the current equivalent list to an earlier report's
// survivors (and only to survivors) and writes the rejudged report.
func TestRejudge(t *testing.T) {
	dir := t.TempDir()
	earlier := filepath.Join(dir, "earlier.json")
	key := `sample/sample.go check boundary "a < b"→"<=" #1`
	r := &report{Packages: []packageReport{{Package: "sample", Mutants: []mutantEntry{
		{Key: key, Outcome: outcomeSurvived}, {Key: "b", Outcome: outcomeKilled},
		{Key: "c", Outcome: outcomeSurvived}}}}}
	if err := writeJSON(earlier, r); err != nil {
		t.Fatal(err)
	}
	equivalent := filepath.Join(dir, "equivalent.txt")
	if err := os.WriteFile(equivalent, []byte(key+"\tlayout: test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := filepath.Join(dir, "after.json")
	var out strings.Builder
	o := &options{reportPath: earlier, equivalentPath: equivalent, jsonPath: after}
	if err := rejudge(context.Background(), o, nil, &out); err != nil {
		t.Fatal(err)
	}
	rejudged, err := readReport(after)
	if err != nil {
		t.Fatal(err)
	}
	c := rejudged.Packages[0].Counts
	if c[outcomeEquivalent] != 1 || c[outcomeKilled] != 1 || c[outcomeSurvived] != 1 ||
		!strings.Contains(out.String(), "| sample |") {
		t.Fatalf("counts %v, output:\n%s", c, out.String())
	}
}

// TestWorkersKeepTheOrder: with several workers the entries come back in the chosen order
// (mutants on lines no test executes are judged without running go test, equivalent ones
// are not run), and a cancelled run starts no mutant.
func TestWorkersKeepTheOrder(t *testing.T) {
	c := &coverageMap{Tests: []testCase{{"TestA", time.Second}},
		blocks: map[string][]coveredBlock{"wal/scan.go": {{1, 1, 100, 1, nil}}}}
	var chosen []*Mutant
	equivalents := map[string]string{}
	want := []string{}
	for i := range 40 {
		m := &Mutant{File: "wal/scan.go", Path: "/nowhere/wal/scan.go", Line: 1 + i, Column: 2,
			Function: "f", Operator: "remove", Original: strconv.Itoa(i), InFunction: true, Ordinal: 1}
		chosen = append(chosen, m)
		if i%3 == 0 {
			equivalents[m.Key()] = "redundant: a test"
			want = append(want, outcomeEquivalent)
		} else {
			want = append(want, outcomeNotCovered)
		}
	}
	sources := map[string][]byte{"/nowhere/wal/scan.go": []byte(strings.Repeat("x\n", 100))}
	base := &runner{coverage: c, scratch: t.TempDir()}
	entries, err := runMutants(context.Background(), &options{workers: 3}, base, chosen, sources,
		equivalents, io.Discard, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for i, entry := range entries {
		if entry.Key != chosen[i].Key() || entry.Outcome != want[i] {
			t.Fatalf("entry %d: %s %s, want %s %s", i, entry.Key, entry.Outcome, chosen[i].Key(), want[i])
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	base.scratch = t.TempDir()
	entries, err = runMutants(cancelled, &options{workers: 2}, base, chosen, sources, equivalents,
		io.Discard, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for i, entry := range entries {
		if entry.Outcome != outcomeNotRun {
			t.Fatalf("cancelled run: entry %d %s", i, entry.Outcome)
		}
	}
}

// TestGuardChecksWhatItLists: the guard (-keys) cannot pass while leaving a listed
// mutant unchecked. Without packages on the command line it runs every package the list
// names (CI named eleven of fourteen until session 47); a listed test that does not run
// and pass unmutated (renamed, skipped) is refused before any mutant; a listed mutant
// that did not build fails the run instead of leaving the score.
func TestGuardChecksWhatItLists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guard.txt")
	text := `core/model/grant.go f boundary "a < b"→"<=" #1` + "\tTestA\n" +
		`wal/scan.go g remove "return nil"→"" #1` + "\tTestB\n" +
		`core/model/other.go h negate "x == y"→"!=" #2` + "\tTestC\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, patterns, err := parseOptions([]string{"-keys", path})
	if err != nil || !slices.Equal(patterns, []string{"./core/model", "./wal"}) {
		t.Fatalf("packages of the list: %v (%v)", patterns, err)
	}
	if _, named, err := parseOptions([]string{"-keys", path, "./wal"}); err != nil ||
		!slices.Equal(named, []string{"./wal"}) {
		t.Fatalf("packages named on the command line: %v (%v)", named, err)
	}
	if _, _, err := parseOptions(nil); err == nil {
		t.Fatal("no package and no list accepted")
	}
	// Parts: core/model has two listed mutants, wal one; together they are the list.
	for _, c := range []struct {
		part string
		want []string
	}{{"1/1", []string{"./core/model", "./wal"}}, {"1/2", []string{"./core/model"}},
		{"2/2", []string{"./wal"}}, {"3/3", nil}} {
		if _, inPart, err := parseOptions([]string{"-keys", path, "-part", c.part}); err != nil ||
			!slices.Equal(inPart, c.want) {
			t.Fatalf("-part %s: %v (%v), want %v", c.part, inPart, err, c.want)
		}
	}
	for _, arguments := range [][]string{{"-keys", path, "-part", "3/2"},
		{"-keys", path, "-part", "0/2"}, {"-keys", path, "-part", "1/2x"},
		{"-keys", path, "-part", "1/2", "./wal"}} {
		if _, _, err := parseOptions(arguments); err == nil {
			t.Fatalf("%v accepted", arguments)
		}
	}

	out := []byte("=== RUN   TestA\n--- PASS: TestA (0.01s)\n=== RUN   TestB\n" +
		"    --- PASS: TestB/inner (0.00s)\n--- SKIP: TestB (0.00s)\nPASS\n")
	if missing := notPassed([]string{"TestA", "TestB", "TestGone"}, testDurations(out)); !slices.Equal(missing,
		[]string{"TestB", "TestGone"}) {
		t.Fatalf("not passed: %v, want the skipped and the missing test", missing)
	}
	// A mutant's timeout follows its own test's duration, not the package's wall time
	// shared among its tests.
	if durations := testDurations(out); len(durations) != 1 || durations["TestA"] != 10*time.Millisecond {
		t.Fatalf("durations %v, want TestA's 10ms alone", durations)
	}

	listed := `wal/scan.go g remove "return nil"→"" #1`
	packages := []packageReport{{Package: "sequent/wal", Mutants: []mutantEntry{
		{Key: listed, Outcome: outcomeKilled}}}}
	if err := unbuiltListed(o, packages); err != nil {
		t.Fatalf("every listed mutant killed: %v", err)
	}
	packages[0].Mutants[0].Outcome = outcomeNotViable
	if err := unbuiltListed(o, packages); err == nil || !strings.Contains(err.Error(), listed) {
		t.Fatalf("a listed mutant that did not build: %v", err)
	}
	if err := unbuiltListed(&options{}, packages); err != nil {
		t.Fatalf("a sampled run (no list) counts it out of the score only: %v", err)
	}
}

// TestReviewhc47ParallelSubtestsSetTheirTestsTimeout: a listed test whose work is in
// parallel subtests shows 0.00s on its own go test -v line (its subtests' lines, indented,
// show the time), so its mutants' timeout fell to the even share of the package's
// baseline: with a long test of parallel subtests beside short listed tests (as
// core/ledger's TestIDTableGrowthAndUndo became in session 47, 84 s per subtest under
// load) that share is a fraction of its time, and a surviving mutant times out, which
// counts as killed. Its duration is at least the sum of its direct subtests' (an upper
// bound of their wall time however many run at once); a sequential test's own line
// already includes its subtests'.
func TestReviewhc47ParallelSubtestsSetTheirTestsTimeout(t *testing.T) {
	// go test -v's output (go 1.26) of one test of two parallel subtests and one of two
	// sequential subtests.
	out := []byte("=== RUN   TestPar\n=== RUN   TestPar/0\n=== PAUSE TestPar/0\n" +
		"=== RUN   TestPar/1\n=== PAUSE TestPar/1\n=== CONT  TestPar/0\n=== CONT  TestPar/1\n" +
		"--- PASS: TestPar (0.00s)\n    --- PASS: TestPar/1 (84.00s)\n    --- PASS: TestPar/0 (80.00s)\n" +
		"=== RUN   TestSeq\n=== RUN   TestSeq/0\n=== RUN   TestSeq/0/deep\n=== RUN   TestSeq/1\n" +
		"--- PASS: TestSeq (3.00s)\n    --- PASS: TestSeq/0 (1.00s)\n        --- PASS: TestSeq/0/deep (1.00s)\n" +
		"    --- PASS: TestSeq/1 (1.00s)\nPASS\nok  \tsequent/x\t87.1s\n")
	durations := testDurations(out)
	if durations["TestPar"] != 164*time.Second || durations["TestSeq"] != 3*time.Second || len(durations) != 2 {
		t.Fatalf("durations %v, want TestPar 2m44s (its subtests' sum), TestSeq 3s (its own)", durations)
	}
	if missing := notPassed([]string{"TestPar", "TestSeq", "TestPar/0"}, durations); !slices.Equal(missing,
		[]string{"TestPar/0"}) {
		t.Fatalf("not passed: %v, want the subtest (not a top-level test) only", missing)
	}
}
