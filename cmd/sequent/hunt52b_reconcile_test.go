package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHunt52bFailedReconcileLeavesNoReportFiles: a reconciliation that cannot run to its
// verdict (exit 2: here a statement whose quote is never closed stops the run) leaves no
// --json or --csv file behind; one that runs (exit 1, a difference) keeps both. Before,
// the failed run left the files it had created, empty or cut short: a CSV of a header and
// the differences found so far reads as the whole list.
func TestHunt52bFailedReconcileLeavesNoReportFiles(t *testing.T) {
	connection := startReconcileTestServer(t)
	directory := t.TempDir()
	ledgers := writeUSDLedgers(directory)
	statement := filepath.Join(directory, "s.csv")
	jsonPath := filepath.Join(directory, "report.json")
	csvPath := filepath.Join(directory, "differences.csv")
	reconcile := append([]string{"reconcile", "--statement", statement, "--account", "50",
		"--ledgers", ledgers, "--json", jsonPath, "--csv", csvPath}, connection...)

	os.WriteFile(statement, []byte("reference,amount\n77,1.00\n78,\"2.00\n79,3.00\n"), 0o600)
	output, err := runRoot(t, reconcile...)
	var usage usageError
	if !errors.As(err, &usage) {
		t.Fatalf("an unclosed quote: %v, want exit 2\n%s", err, output)
	}
	for _, path := range []string{jsonPath, csvPath} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a failed run: %v, want no file", filepath.Base(path), err)
		}
	}

	os.WriteFile(statement, []byte("reference,amount\n77,1.00\n"), 0o600)
	if output, err := runRoot(t, reconcile...); !errors.Is(err, errNotReconciled) {
		t.Fatalf("a difference: %v, want exit 1\n%s", err, output)
	}
	written, err := os.ReadFile(csvPath)
	if err != nil || !strings.Contains(string(written), "missing_ours,77,2") {
		t.Fatalf("the differences' CSV: %v\n%s", err, written)
	}
	if _, err := os.Stat(jsonPath); err != nil {
		t.Fatalf("the JSON report: %v", err)
	}
}

// startReconcileTestServer starts a test server holding account 50 (ledger 1) and returns
// the flags that connect to it.
func startReconcileTestServer(t *testing.T) []string {
	t.Helper()
	address, keys := startTestServer(t)
	connection := []string{"--addr", address, "--keys", keys}
	if output, err := runClient(t, append([]string{"create-accounts", "1", "50", "--ledger",
		"1", "--code", "1"}, connection...)...); err != nil {
		t.Fatalf("create-accounts: %v\n%s", err, output)
	}
	return connection
}

// writeUSDLedgers writes a ledger registry of ledger 1, USD, scale 2, into directory and
// returns its path.
func writeUSDLedgers(directory string) string {
	ledgers := filepath.Join(directory, "ledgers.json")
	os.WriteFile(ledgers, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2}]}`), 0o600)
	return ledgers
}
