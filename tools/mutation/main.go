package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings.
type options struct {
	seed            uint64
	sample          int
	budget          time.Duration
	operators       map[string]bool
	match           *regexp.Regexp
	list            bool
	jsonPath        string
	rerun           map[string]bool
	previous        *report             // -rerun: the earlier run, whose other outcomes carry over
	keys            map[string][]string // -keys: key → the tests expected to kill it (nil: coverage)
	failUnder       float64
	reportPath      string // -report: summarize this -json file again, running nothing
	equivalentPath  string
	checkEquivalent bool
	timeoutFactor   float64
	timeoutSlack    time.Duration
	workers         int
	claimDirectory  string // -claim: runs sharing this directory each take the packages no other took first
}

func main() {
	o, patterns, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutation:", err)
		os.Exit(2)
	}
	// SIGTERM as well as an interrupt: .ci/run stops a guard run still going when CI ends
	// early with SIGTERM to its process group, which does not hold the go test that runs
	// the current mutant (a group of its own, killProcessGroup); cancelling kills that.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	if o.reportPath != "" {
		run = rejudge
	}
	if err := run(ctx, o, patterns, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mutation:", err)
		os.Exit(1)
	}
}

func parseOptions(arguments []string) (*options, []string, error) {
	flags := flag.NewFlagSet("mutation", flag.ContinueOnError)
	o := &options{}
	flags.Uint64Var(&o.seed, "seed", 1, "shuffles the mutants before sampling: the same seed on the same code tests the same mutants")
	flags.IntVar(&o.sample, "sample", 0, "mutants to test per package (0: all)")
	flags.DurationVar(&o.budget, "budget", 0, "per package: start no mutant after this long (0: no limit)")
	operators := flags.String("operators", strings.Join(allOperators, ","), "operators to apply, comma separated")
	match := flags.String("match", "", "only mutants whose key matches this regular expression")
	flags.BoolVar(&o.list, "list", false, "list the chosen mutants without running them")
	flags.StringVar(&o.jsonPath, "json", "", "write every outcome to this file")
	rerun := flags.String("rerun", "", "test again only the mutants that survived in this -json file; the other outcomes carry over into the counts")
	keys := flags.String("keys", "", "test only the mutants listed in this file (key, optionally a tab and the tests that must kill it); a listed key the code no longer has is an error")
	flags.StringVar(&o.reportPath, "report", "", "print the summary of this -json file again with the current equivalent.txt, running nothing")
	flags.Float64Var(&o.failUnder, "fail-under", 0, "exit with status 1 if a package scores below this percentage")
	flags.StringVar(&o.equivalentPath, "equivalent", "", "mutants judged equivalent (default: equivalent.txt beside this tool)")
	flags.BoolVar(&o.checkEquivalent, "check-equivalent", false, "run the equivalent mutants too, and warn when one is killed")
	flags.Float64Var(&o.timeoutFactor, "timeout-factor", 3, "a mutant times out after this many times its tests' unmutated duration ...")
	flags.DurationVar(&o.timeoutSlack, "timeout-slack", 30*time.Second, "... plus this")
	flags.IntVar(&o.workers, "workers", 1, "mutants tested at the same time (each a go test process)")
	part := flags.String("part", "", "with -keys and no package: test part K/N of the packages the list names (dealt by their numbers of listed mutants), so that N runs share the list")
	flags.StringVar(&o.claimDirectory, "claim", "", "with -keys and no package: before testing a package, claim it in this directory and skip it if another run claimed it first, so that runs sharing the directory share the list by its measured cost (most listed mutants first)")
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), "usage: go run ./tools/mutation [flags] package...")
		flags.PrintDefaults()
	}
	if err := flags.Parse(arguments); err != nil {
		return nil, nil, err
	}
	o.operators = map[string]bool{}
	for _, name := range strings.Split(*operators, ",") {
		name = strings.TrimSpace(name)
		if !contains(allOperators, name) {
			return nil, nil, fmt.Errorf("unknown operator %q (known: %s)", name, strings.Join(allOperators, ", "))
		}
		o.operators[name] = true
	}
	if *match != "" {
		pattern, err := regexp.Compile(*match)
		if err != nil {
			return nil, nil, err
		}
		o.match = pattern
	}
	if *rerun != "" {
		previous, err := readReport(*rerun)
		if err != nil {
			return nil, nil, err
		}
		o.previous, o.rerun = previous, survivorKeys(previous)
	}
	if *keys != "" {
		listed, err := loadKeys(*keys)
		if err != nil {
			return nil, nil, err
		}
		o.keys = listed
	}
	patterns := flags.Args()
	if len(patterns) == 0 && o.keys != nil {
		// Every package the list names: CI's guard cannot leave a package's lines unrun
		// because its command line forgot the package (session 47 found six such lines:
		// core, core/model and core/shard were never named).
		patterns = keyPackages(o.keys)
		if *part != "" {
			var err error
			if patterns, err = partOf(o.keys, patterns, *part); err != nil {
				return nil, nil, err
			}
		}
		if o.claimDirectory != "" {
			if *part != "" {
				return nil, nil, fmt.Errorf("-claim and -part both share the list: give one")
			}
			patterns = mostListedFirst(o.keys, patterns)
		}
	} else if *part != "" {
		return nil, nil, fmt.Errorf("-part needs -keys and no package named")
	} else if o.claimDirectory != "" {
		return nil, nil, fmt.Errorf("-claim needs -keys and no package named")
	}
	if len(patterns) == 0 && o.reportPath == "" && *part == "" { // A part may be empty.
		flags.Usage()
		return nil, nil, fmt.Errorf("no package given")
	}
	return o, patterns, nil
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// counts tallies outcomes of one package.
type counts map[string]int

// killed counts timed out mutants as killed; survived counts the not covered ones.
func (c counts) killed() int   { return c[outcomeKilled] + c[outcomeTimedOut] }
func (c counts) survived() int { return c[outcomeSurvived] + c[outcomeNotCovered] }

func (c counts) score() (score, low, high float64, n int) {
	n = c.killed() + c.survived()
	if n == 0 {
		return 0, 0, 0, 0
	}
	score = float64(c.killed()) / float64(n)
	low, high = wilson(c.killed(), n)
	return score, low, high, n
}

// wilson is the 95% Wilson score interval of k successes in n trials: how far a sampled
// score may be from the score of all mutants.
func wilson(k, n int) (low, high float64) {
	const z = 1.96
	p, size := float64(k)/float64(n), float64(n)
	denominator := 1 + z*z/size
	center := (p + z*z/(2*size)) / denominator
	half := z * math.Sqrt(p*(1-p)/size+z*z/(4*size*size)) / denominator
	return center - half, center + half
}

func run(ctx context.Context, o *options, patterns []string, out io.Writer) error {
	r := report{Command: os.Args, Seed: o.seed, Sample: o.sample, Started: time.Now().UTC()}
	for _, pattern := range patterns {
		if ctx.Err() != nil {
			break
		}
		if o.claimDirectory != "" {
			mine, err := claim(o.claimDirectory, pattern)
			if err != nil {
				return err
			}
			if !mine {
				continue
			}
		}
		p, err := runPackage(ctx, o, pattern, out)
		if err != nil {
			return err
		}
		r.Packages = append(r.Packages, p)
		if err := writeJSON(o.jsonPath, &r); err != nil {
			return err
		}
	}
	if !o.list {
		printSummary(out, r.Packages)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, p := range r.Packages {
		if score, _, _, n := p.Counts.score(); o.failUnder > 0 && n > 0 && 100*score < o.failUnder {
			return fmt.Errorf("%s scores %.1f%%, under %.1f%%", p.Package, 100*score, o.failUnder)
		}
	}
	return unbuiltListed(o, r.Packages)
}

// unbuiltListed fails a -keys run in which a listed mutant did not build (twice: see
// judge): a mutant that is not viable is left out of the score, so the guard would pass
// while no longer checking it, and a package whose every listed mutant failed to build
// would have no score at all.
func unbuiltListed(o *options, packages []packageReport) error {
	if o.keys == nil {
		return nil
	}
	var unbuilt []string
	for _, p := range packages {
		for _, m := range p.Mutants {
			if _, listed := o.keys[m.Key]; listed && m.Outcome == outcomeNotViable {
				unbuilt = append(unbuilt, m.Key)
			}
		}
	}
	if len(unbuilt) > 0 {
		return fmt.Errorf("listed mutants that did not build, so nothing checks them (update the list):\n%s",
			strings.Join(unbuilt, "\n"))
	}
	return nil
}

// choose filters and samples a package's mutants, in the order they will run.
func choose(o *options, importPath string, all []*Mutant) []*Mutant {
	var chosen []*Mutant
	for _, m := range all {
		key := m.Key()
		_, listed := o.keys[key]
		if (o.match == nil || o.match.MatchString(key)) && (o.rerun == nil || o.rerun[key]) &&
			(o.keys == nil || listed) {
			chosen = append(chosen, m)
		}
	}
	sort.SliceStable(chosen, func(i, j int) bool { return chosen[i].Key() < chosen[j].Key() })
	h := fnv.New64a()
	h.Write([]byte(importPath))
	random := rand.New(rand.NewPCG(o.seed, h.Sum64()))
	random.Shuffle(len(chosen), func(i, j int) { chosen[i], chosen[j] = chosen[j], chosen[i] })
	if o.sample > 0 && len(chosen) > o.sample {
		chosen = chosen[:o.sample]
	}
	return chosen
}

func runPackage(ctx context.Context, o *options, pattern string, out io.Writer) (packageReport, error) {
	started := time.Now()
	t, fset, info, err := loadTarget(pattern)
	if err != nil {
		return packageReport{}, err
	}
	all := discover(t, fset, info, o.operators)
	chosen := choose(o, t.ImportPath, all)
	p := packageReport{Package: t.ImportPath, Found: len(all), Counts: counts{}}
	fmt.Fprintf(out, "== %s: %d mutants found, %d chosen (seed %d)\n", t.ImportPath, len(all), len(chosen), o.seed)
	if o.list {
		for _, m := range chosen {
			fmt.Fprintf(out, "%s:%d:%d\t%s\n", m.File, m.Line, m.Column, m.Key())
		}
		return p, nil
	}
	equivalentPath := o.equivalentPath
	if equivalentPath == "" {
		equivalentPath = filepath.Join(t.ModuleDir, "tools", "mutation", "equivalent.txt")
	}
	equivalents, err := loadEquivalents(equivalentPath)
	if err != nil {
		return p, err
	}
	var judged []string
	for key := range equivalents {
		judged = append(judged, key)
	}
	for _, key := range staleKeys(judged, t, all) {
		fmt.Fprintf(out, "WARNING: %s lists a mutant the code no longer has (judge it again or drop it): %s\n",
			filepath.Base(equivalentPath), key)
	}
	sources := map[string][]byte{}
	for _, f := range t.Files {
		sources[f.Path] = f.Source
	}
	scratch, err := os.MkdirTemp("", "mutation-")
	if err != nil {
		return p, err
	}
	defer os.RemoveAll(scratch)
	progress := func(line string) { fmt.Fprintln(os.Stderr, line) }
	if err := checkListedKeys(o, t, all); err != nil {
		return p, err
	}
	coverage, err := testSelection(ctx, o, t, chosen, scratch, progress)
	if err != nil {
		return p, err
	}
	r := &runner{target: t, coverage: coverage, scratch: scratch, timeoutFactor: o.timeoutFactor,
		timeoutSlack: o.timeoutSlack, forced: o.keys}
	entries, err := runMutants(ctx, o, r, chosen, sources, equivalents, out, progress)
	if err != nil {
		return p, err
	}
	for _, entry := range entries {
		p.Counts[entry.Outcome]++
		p.Mutants = append(p.Mutants, entry)
	}
	present := map[string]bool{}
	for _, m := range all {
		present[m.Key()] = true
	}
	if carried, gone := carryOver(o, &p, present); carried > 0 || gone > 0 {
		fmt.Fprintf(out, "   %d outcomes carried over from the earlier run; %d of its mutants are gone from the code (not counted)\n",
			carried, gone)
	}
	p.Seconds = time.Since(started).Seconds()
	printPackage(out, &p)
	return p, nil
}

func printPackage(out io.Writer, p *packageReport) {
	c := p.Counts
	fmt.Fprintf(out, "   killed %d (timed out %d), survived %d (not covered %d), not viable %d, equivalent %d, not run %d, %.0fs\n",
		c.killed(), c[outcomeTimedOut], c.survived(), c[outcomeNotCovered], c[outcomeNotViable],
		c[outcomeEquivalent], c[outcomeNotRun], p.Seconds)
	if score, low, high, n := c.score(); n > 0 {
		fmt.Fprintf(out, "   score %.1f%% of %d (95%% interval %.1f–%.1f%%)\n", 100*score, n, 100*low, 100*high)
	}
	survivors := append([]mutantEntry(nil), p.Mutants...)
	sort.SliceStable(survivors, func(i, j int) bool { return survivors[i].Position < survivors[j].Position })
	for _, m := range survivors {
		if m.Outcome == outcomeSurvived || m.Outcome == outcomeNotCovered {
			fmt.Fprintf(out, "%s %s\n   %s\n%s", m.Position, m.Outcome, m.Key, m.Diff)
		}
	}
}

func printSummary(out io.Writer, packages []packageReport) {
	fmt.Fprintln(out, "\n| package | found | tested | killed (timed out) | survived (not covered) | not viable | equivalent | not run | score (95% interval) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|")
	for _, p := range packages {
		c := p.Counts
		tested := len(p.Mutants) - c[outcomeNotRun]
		score := "—"
		if s, low, high, n := c.score(); n > 0 {
			score = fmt.Sprintf("%.1f%% (%.0f–%.0f%%)", 100*s, 100*low, 100*high)
		}
		fmt.Fprintf(out, "| %s | %d | %d | %d (%d) | %d (%d) | %d | %d | %d | %s |\n", p.Package, p.Found,
			tested, c.killed(), c[outcomeTimedOut], c.survived(), c[outcomeNotCovered],
			c[outcomeNotViable], c[outcomeEquivalent], c[outcomeNotRun], score)
	}
}
