package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// runMutants tests the chosen mutants, o.workers at a time (each worker a runner with its
// own scratch directory). The entries come back in the chosen order whichever worker
// finished first, so a report does not depend on the number of workers. No mutant starts
// after o.budget or once the context is cancelled: those are not run.
func runMutants(ctx context.Context, o *options, base *runner, chosen []*Mutant,
	sources map[string][]byte, equivalents map[string]string, out io.Writer,
	progress func(string)) ([]mutantEntry, error) {
	entries := make([]mutantEntry, len(chosen))
	started := time.Now()
	var (
		mutex    sync.Mutex // Guards next, failure and the writes to out and progress.
		next     int
		failure  error
		finished sync.WaitGroup
	)
	for worker := range max(1, o.workers) {
		r := *base
		r.scratch = filepath.Join(base.scratch, fmt.Sprintf("worker-%d", worker))
		if err := os.Mkdir(r.scratch, 0o755); err != nil {
			return nil, err
		}
		finished.Add(1)
		go func() {
			defer finished.Done()
			for {
				mutex.Lock()
				i := next
				next++
				stopped := failure != nil
				mutex.Unlock()
				if i >= len(chosen) {
					return
				}
				m := chosen[i]
				entry := mutantEntry{Key: m.Key(), Position: fmt.Sprintf("%s:%d:%d", m.File, m.Line, m.Column),
					Diff: m.Diff(sources[m.Path])}
				if stopped || ctx.Err() != nil || (o.budget > 0 && time.Since(started) > o.budget) {
					entry.Outcome = outcomeNotRun
					entries[i] = entry
					continue
				}
				v, err := judge(ctx, o, &r, m, sources[m.Path], equivalents, &entry)
				entries[i] = entry
				mutex.Lock()
				switch {
				case err != nil && ctx.Err() == nil:
					if failure == nil {
						failure = err
					}
				case v.Outcome != "":
					if v.Warning != "" {
						fmt.Fprintln(out, v.Warning)
					}
					if (v.Outcome == outcomeKilled || v.Outcome == outcomeNotViable) && v.Output != "" {
						progress(v.Output)
					}
					progress(fmt.Sprintf("[%d/%d] %-11s %s:%d %s %s (%.1fs)", i+1, len(chosen), entry.Outcome,
						m.File, m.Line, m.Operator, entry.Test, v.Duration.Seconds()))
				}
				mutex.Unlock()
			}
		}()
	}
	finished.Wait()
	return entries, failure
}

// judge fills one mutant's entry: equivalent (not run unless -check-equivalent), or what
// running its tests showed. The verdict is empty when the mutant was not run.
func judge(ctx context.Context, o *options, r *runner, m *Mutant, source []byte,
	equivalents map[string]string, entry *mutantEntry) (verdict, error) {
	reason, equivalent := equivalents[entry.Key]
	if equivalent && !o.checkEquivalent {
		entry.Outcome, entry.Reason = outcomeEquivalent, reason
		return verdict{}, nil
	}
	v, err := r.run(ctx, m, source)
	if _, listed := o.keys[entry.Key]; listed && err == nil && v.Outcome == outcomeNotViable {
		// A listed mutant built before (the list was made from a run that killed it):
		// one more try tells a build that failed for a passing cause (the machine's
		// memory, a killed compiler) from a mutant that no longer compiles, which
		// unbuiltListed then reports.
		v, err = r.run(ctx, m, source)
	}
	entry.Outcome, entry.Test, entry.Seconds = v.Outcome, v.Test, v.Duration.Seconds()
	if err != nil {
		entry.Outcome = outcomeNotRun
		return v, err
	}
	if equivalent {
		if entry.Outcome == outcomeKilled || entry.Outcome == outcomeTimedOut {
			v.Warning = fmt.Sprintf("WARNING: %s is listed as equivalent but was %s by %s", entry.Key,
				entry.Outcome, entry.Test)
		}
		entry.Outcome, entry.Reason = outcomeEquivalent, reason
	}
	return v, nil
}
