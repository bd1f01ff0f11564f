package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReview52bFailedReconcileRemovesOnlyItsOwnReports (claim: hunt52b's df463b8d "a run
// that fails removes the --json and --csv files it created"): a failed run (exit 2) must
// not delete what it did not create, nor leave a cut-short report behind a link. Before,
// it called os.Remove on every output path: a FIFO (and, run as root, a device such as
// --csv /dev/null or --json /dev/stderr) given as an output was deleted, and a path that
// is a symbolic link lost the link while the file it points to kept the cut-short report
// (here the CSV's header, read as "no differences").
func TestReview52bFailedReconcileRemovesOnlyItsOwnReports(t *testing.T) {
	connection := startReconcileTestServer(t)
	directory := t.TempDir()
	ledgers := writeUSDLedgers(directory)
	statement := filepath.Join(directory, "s.csv")
	fifo := filepath.Join(directory, "report.fifo")
	target := filepath.Join(directory, "differences-target.csv")
	link := filepath.Join(directory, "differences.csv")
	// Unreadable lines (differences streamed to the CSV, past its writer's buffer), then an
	// unclosed quote that stops the run (exit 2).
	text := "reference,amount\n"
	for range 200 {
		text += "not-a-reference,1.00\n"
	}
	os.WriteFile(statement, []byte(text+"77,1.00\n78,\"2.00\n79,3.00\n"), 0o600)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	output, err := runRoot(t, append([]string{"reconcile", "--statement", statement,
		"--account", "50", "--ledgers", ledgers, "--json", fifo, "--csv", link},
		connection...)...)
	var usage usageError
	if !errors.As(err, &usage) {
		t.Fatalf("an unclosed quote: %v, want exit 2\n%s", err, output)
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO given as --json after a failed run: %v, want it kept", err)
	}
	if written, err := os.ReadFile(target); err == nil && len(written) > 0 {
		t.Errorf("the file --csv links to after a failed run holds %d bytes (%q…), want "+
			"no report", len(written), strings.SplitN(string(written), "\n", 2)[0])
	}
}

// TestReview52bOutputNamingTheStatementIsRefused (claim: df463b8d, a failed run removes
// "the --json and --csv files it created"): --csv (or --json) naming the statement
// itself is refused before anything is opened. Before, os.Create emptied the partner's
// statement, the run failed on the empty file (exit 2), and the removal of failed runs'
// reports then deleted the statement outright.
func TestReview52bOutputNamingTheStatementIsRefused(t *testing.T) {
	directory := t.TempDir()
	ledgers := writeUSDLedgers(directory)
	statement := filepath.Join(directory, "s.csv")
	const text = "reference,amount\n77,1.00\n"
	os.WriteFile(statement, []byte(text), 0o600)
	for _, flag := range []string{"--csv", "--json"} {
		output, err := runRootBounded("reconcile", "--statement", statement, "--account",
			"50", "--ledgers", ledgers, flag, filepath.Join(directory, ".", "s.csv"),
			"--addr", "127.0.0.1:1", "--timeout", "5s")
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "statement") {
			t.Errorf("%s naming the statement: %v, want a usage error about it\n%s", flag,
				err, output)
		}
		if written, err := os.ReadFile(statement); err != nil || string(written) != text {
			t.Fatalf("%s naming the statement: the statement is now %q (%v)", flag, written,
				err)
		}
	}
}

// TestReview52bReconcileTwiceOnOneCommand (claim: cd0adb45, the interrupt's handling ends
// with the command): the signal context a run installs on its command does not outlive
// it. Before, cmd.SetContext left the run's context, cancelled by its stop, on the
// command, and cobra keeps a subcommand's context once set: a second Execute of the same
// command tree (an embedding program, a test) failed at once with "context canceled".
func TestReview52bReconcileTwiceOnOneCommand(t *testing.T) {
	connection := startReconcileTestServer(t)
	directory := t.TempDir()
	ledgers := writeUSDLedgers(directory)
	statement := filepath.Join(directory, "s.csv")
	os.WriteFile(statement, []byte("reference,amount\n77,1.00\n"), 0o600)
	root := newRootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"reconcile", "--statement", statement, "--account", "50",
		"--ledgers", ledgers}, connection...))
	for run := 1; run <= 2; run++ {
		if err := root.Execute(); !errors.Is(err, errNotReconciled) {
			t.Fatalf("run %d: %v, want exit 1 (a difference)\n%s", run, err, out.String())
		}
	}
}

// TestReview52bJSONAndCSVNamingOneFileAreRefused: --json and --csv naming one file (by
// two spellings) are refused. Before, the file was opened twice and the JSON report and
// the differences' CSV were written over each other: the report kept (exit 0 or 1) was
// neither.
func TestReview52bJSONAndCSVNamingOneFileAreRefused(t *testing.T) {
	directory := t.TempDir()
	ledgers := writeUSDLedgers(directory)
	statement := filepath.Join(directory, "s.csv")
	os.WriteFile(statement, []byte("reference,amount\n77,1.00\n"), 0o600)
	output, err := runRootBounded("reconcile", "--statement", statement, "--account", "50",
		"--ledgers", ledgers, "--json", filepath.Join(directory, "report"), "--csv",
		filepath.Join(directory, ".", "report"), "--addr", "127.0.0.1:1", "--timeout", "5s")
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--json") {
		t.Fatalf("--json and --csv naming one file: %v, want a usage error about it\n%s",
			err, output)
	}
}
