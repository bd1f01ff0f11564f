package tools

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// ciRunBesideFunctions returns .ci/run's text from the creation of its logs directory
// through the end of its collect function: the shell functions that run steps beside
// each other (beside) and collect their output and exit status (collect).
func ciRunBesideFunctions(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	text := string(script)
	start := strings.Index(text, "beside_logs=$(mktemp -d)")
	collect := strings.Index(text, "\ncollect() {")
	if start < 0 || collect < start {
		t.Fatal(".ci/run no longer defines beside_logs and collect() as this test expects")
	}
	end := strings.Index(text[collect:], "\n}\n")
	if end < 0 {
		t.Fatal(".ci/run: collect() has no end")
	}
	return text[start : collect+end+3]
}

// TestReviewhc47CIBesideStepsFailAndPrintBoth: .ci/run's steps run beside each other
// (beside) are collected one after the other (collect), and "a failure fails CI once
// both outputs are printed". A step that fails, or whose command is killed, does so. A
// step whose own shell is killed before it writes its status file (the kernel's OOM
// killer, an operator's kill of the wrong process) made the first collect stop the
// script at once on set -u ("status: unbound variable"): CI failed, but the other step's
// output, which may hold the failure's cause or a second failure, was never printed.
func TestReviewhc47CIBesideStepsFailAndPrintBoth(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	functions := ciRunBesideFunctions(t)
	for _, c := range []struct {
		name, first string
		pass        bool
	}{
		{"both pass", `sh -c 'echo first-output'`, true},
		{"a step fails", `sh -c 'echo first-output; exit 3'`, false},
		{"a step's command is killed", `sh -c 'echo first-output; kill -KILL $$'`, false},
		// $PPID of the command is beside's subshell, which then never writes its status.
		{"a step's shell is killed", `sh -c 'echo first-output; kill -KILL $PPID'`, false},
	} {
		script := "set -euo pipefail\nstarted=$(date +%s)\n" + functions + "\n" +
			"beside first " + c.first + "\n" +
			"beside second sh -c 'echo second-output'\n" +
			"failed=0\ncollect first || failed=1\ncollect second || failed=1\n" +
			"[ \"$failed\" -eq 0 ]\necho CI-PASSED\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		text := string(out)
		if passed := err == nil && strings.Contains(text, "CI-PASSED"); passed != c.pass {
			t.Fatalf("%s: passed %v (%v), want %v:\n%s", c.name, passed, err, c.pass, text)
		}
		if !strings.Contains(text, "second-output") || !strings.Contains(text, "-- second: exit status 0") {
			t.Fatalf("%s: the other step's output and status were not printed:\n%s", c.name, text)
		}
	}
}
