package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Outcomes of a mutant.
const (
	outcomeKilled     = "killed"
	outcomeTimedOut   = "timed out"   // counts as killed: a hanging suite is noticed
	outcomeSurvived   = "survived"    // every selected test passed
	outcomeNotCovered = "not covered" // survived: no test executes the line
	outcomeNotViable  = "not viable"  // did not compile (left out of the score)
	outcomeEquivalent = "equivalent"  // judged equivalent in equivalent.txt (left out)
	outcomeNotRun     = "not run"     // the budget ran out first (left out)
)

// compileAllowance bounds building a mutant's test binary, on top of the test timeout.
const compileAllowance = 5 * time.Minute

// runner tests mutants of one package, one at a time, in its own scratch directory.
type runner struct {
	target        *target
	coverage      *coverageMap
	scratch       string
	timeoutFactor float64
	timeoutSlack  time.Duration
	forced        map[string][]string // key → the tests to run instead of the coverage's choice
}

// verdict is what running one mutant showed.
type verdict struct {
	Outcome  string
	Test     string // the first failing test, or the panic, for a killed mutant
	Duration time.Duration
	Output   string // the end of go test's output when not killed or survived cleanly
	Warning  string // an equivalent mutant that a test noticed (-check-equivalent)
}

var failingTest = regexp.MustCompile(`--- FAIL: (\S+)`)

// run tests one mutant with go test -overlay.
func (r *runner) run(ctx context.Context, m *Mutant, source []byte) (verdict, error) {
	chosen := r.coverage.selectTests(m)
	if tests := r.forced[m.Key()]; len(tests) > 0 {
		chosen = r.coverage.named(tests)
	}
	if !chosen.All && len(chosen.Names) == 0 {
		return verdict{Outcome: outcomeNotCovered}, nil
	}
	mutated := filepath.Join(r.scratch, filepath.Base(m.Path))
	if err := os.WriteFile(mutated, m.Apply(source), 0o644); err != nil {
		return verdict{}, err
	}
	overlay := filepath.Join(r.scratch, "overlay.json")
	data, err := json.Marshal(map[string]map[string]string{"Replace": {m.Path: mutated}})
	if err != nil {
		return verdict{}, err
	}
	if err := os.WriteFile(overlay, data, 0o644); err != nil {
		return verdict{}, err
	}
	testTimeout := time.Duration(float64(chosen.Duration)*r.timeoutFactor) + r.timeoutSlack
	arguments := []string{"test", "-overlay", overlay, "-count=1", "-vet=off", "-failfast",
		"-timeout", testTimeout.String()}
	if !chosen.All {
		arguments = append(arguments, "-run", runPattern(chosen.Names))
	}
	arguments = append(arguments, r.target.ImportPath)
	bounded, cancel := context.WithTimeout(ctx, testTimeout+compileAllowance)
	defer cancel()
	command := exec.CommandContext(bounded, "go", arguments...)
	command.Dir = r.target.ModuleDir
	// The tests' temporary directories go under the scratch directory, emptied after each
	// mutant: a mutant that panics or times out skips the tests' cleanup, and its
	// directories would otherwise pile up in the machine's /tmp.
	testTemp := filepath.Join(r.scratch, "tmp")
	if err := os.MkdirAll(testTemp, 0o755); err != nil {
		return verdict{}, err
	}
	defer os.RemoveAll(testTemp)
	command.Env = append(os.Environ(), "TMPDIR="+testTemp)
	killProcessGroup(command)
	var out bytes.Buffer
	command.Stdout, command.Stderr = &out, &out
	started := time.Now()
	err = command.Run()
	v := classify(err, bounded.Err(), out.Bytes())
	v.Duration = time.Since(started)
	if ctx.Err() != nil {
		return verdict{}, ctx.Err() // interrupted: no verdict
	}
	return v, nil
}

// classify turns go test's exit and output into an outcome.
func classify(err, deadline error, out []byte) verdict {
	text := string(out)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return verdict{Outcome: outcomeSurvived}
	case errors.Is(deadline, context.DeadlineExceeded) || strings.Contains(text, "panic: test timed out after"):
		return verdict{Outcome: outcomeTimedOut}
	case strings.Contains(text, "[build failed]") || strings.Contains(text, "[setup failed]"):
		return verdict{Outcome: outcomeNotViable, Output: string(tail(out))}
	case !errors.As(err, &exit):
		return verdict{Outcome: outcomeNotViable, Output: err.Error()}
	}
	if match := failingTest.FindStringSubmatch(text); match != nil {
		return verdict{Outcome: outcomeKilled, Test: match[1]}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			return verdict{Outcome: outcomeKilled, Test: strings.TrimSpace(line)}
		}
	}
	return verdict{Outcome: outcomeKilled, Test: "(go test failed)", Output: string(tail(out))}
}
