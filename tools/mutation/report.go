package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// report is what -json writes.
type report struct {
	Command  []string        `json:"command"`
	Seed     uint64          `json:"seed"`
	Sample   int             `json:"sample"`
	Started  time.Time       `json:"started"`
	Packages []packageReport `json:"packages"`
}

type packageReport struct {
	Package string        `json:"package"`
	Found   int           `json:"found"`
	Counts  counts        `json:"counts"`
	Seconds float64       `json:"seconds"`
	Mutants []mutantEntry `json:"mutants"`
}

type mutantEntry struct {
	Key      string  `json:"key"`
	Position string  `json:"position"`
	Outcome  string  `json:"outcome"`
	Test     string  `json:"test,omitempty"`
	Seconds  float64 `json:"seconds"`
	Diff     string  `json:"diff,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	Carried  bool    `json:"carried,omitempty"` // the outcome of the earlier run (-rerun)
}

// writeJSON writes the report (after each package, so that an interrupted run keeps
// what it measured).
func writeJSON(path string, r *report) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// readReport reads a -json report.
func readReport(path string) (*report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// survivorKeys returns the keys of the mutants that survived in a report.
func survivorKeys(r *report) map[string]bool {
	keys := map[string]bool{}
	for _, p := range r.Packages {
		for _, m := range p.Mutants {
			if m.Outcome == outcomeSurvived || m.Outcome == outcomeNotCovered {
				keys[m.Key] = true
			}
		}
	}
	return keys
}

// carryOver adds to p the outcomes of the earlier run (-rerun) for the mutants this run
// did not test again (killed, not viable, not run), so that the counts cover the whole
// earlier sample. Only mutants the code still has are carried: their keys must exist.
// It returns how many were carried and how many of the earlier sample (survivors
// included) the code no longer has, which the caller reports.
func carryOver(o *options, p *packageReport, present map[string]bool) (carried, gone int) {
	if o.previous == nil {
		return 0, 0
	}
	for _, earlier := range o.previous.Packages {
		if earlier.Package != p.Package {
			continue
		}
		for _, m := range earlier.Mutants {
			switch {
			case !present[m.Key]:
				gone++
			case o.rerun[m.Key]:
			default:
				m.Carried = true
				p.Counts[m.Outcome]++
				p.Mutants = append(p.Mutants, m)
				carried++
			}
		}
	}
	return carried, gone
}

// rejudge prints a -json report again (-report), applying the current list of equivalent
// mutants to its survivors: after judging survivors, the scores follow without a rerun.
func rejudge(_ context.Context, o *options, _ []string, out io.Writer) error {
	r, err := readReport(o.reportPath)
	if err != nil {
		return err
	}
	path := o.equivalentPath
	if path == "" {
		path = filepath.Join("tools", "mutation", "equivalent.txt")
	}
	equivalents, err := loadEquivalents(path)
	if err != nil {
		return err
	}
	for i := range r.Packages {
		p := &r.Packages[i]
		p.Counts = counts{}
		for j := range p.Mutants {
			m := &p.Mutants[j]
			reason, judged := equivalents[m.Key]
			if judged && (m.Outcome == outcomeSurvived || m.Outcome == outcomeNotCovered) {
				m.Outcome, m.Reason = outcomeEquivalent, reason
			}
			p.Counts[m.Outcome]++
		}
		fmt.Fprintf(out, "== %s: %d mutants found, %d in the report\n", p.Package, p.Found, len(p.Mutants))
		printPackage(out, p)
	}
	printSummary(out, r.Packages)
	return writeJSON(o.jsonPath, r)
}
