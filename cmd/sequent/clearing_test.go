package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runRoot runs `sequent args...` in process and returns its output and error.
func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runRootContext(context.Background(), args...)
}

// runRootBounded is runRoot for a command expected to be refused at once (a serve that
// must not start): should it start after all, its context ends it after
// refusedCommandWait rather than let the test hang.
func runRootBounded(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), refusedCommandWait)
	defer cancel()
	return runRootContext(ctx, args...)
}

// refusedCommandWait bounds runRootBounded's command.
const refusedCommandWait = 20 * time.Second

// runRootContext runs `sequent args...` in process under ctx.
func runRootContext(ctx context.Context, args ...string) (string, error) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestClearingCommands runs convert, settle and reconcile against a server in front of
// the fake shard: the flag handling, the output, and each exit class (usage errors,
// refused events, differences found).
func TestClearingCommands(t *testing.T) {
	address, keys := startTestServer(t)
	connection := []string{"--addr", address, "--keys", keys}
	directory := t.TempDir()
	ledgers := filepath.Join(directory, "ledgers.json")
	os.WriteFile(ledgers, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2},`+
		`{"ledger":2,"name":"EUR","scale":2}]}`), 0o600)
	for _, args := range [][]string{{"create-accounts", "1", "50", "90", "--ledger", "1",
		"--code", "1"}, {"create-accounts", "2", "--ledger", "2", "--code", "1"},
		{"create-accounts", "91", "--ledger", "2", "--code", "1", "--flags",
			"debits-must-not-exceed-credits"},
		{"transfer", "--id", "7", "--debit", "2", "--credit", "91", "--amount", "5000",
			"--ledger", "2", "--code", "1"},
		{"transfer", "--id", "8", "--debit", "1", "--credit", "50", "--amount", "1234",
			"--ledger", "1", "--code", "1", "--user-data-128", "77"}} {
		if output, err := runClient(t, append(args, connection...)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, output)
		}
	}
	convert := append([]string{"client", "convert", "--id", "100", "--payer", "1", "--payee",
		"2", "--source-liquidity", "90", "--target-liquidity", "91", "--source-ledger", "1",
		"--target-ledger", "2", "--rate", "1.5", "--quote-id", "3", "--code", "4",
		"--ledgers", ledgers}, connection...)
	output, err := runRoot(t, append(convert, "--amount", "1000")...)
	if err != nil || !strings.Contains(output, "conversion applied at 1.5") ||
		!strings.Contains(output, "payee 2 receives 15.00 EUR") {
		t.Fatalf("convert: %v\n%s", err, output)
	}
	output, err = runRoot(t, append(convert, "--id", "102", "--receive", "999999")...)
	if !errors.Is(err, errEventsFailed) || !strings.Contains(output, "REFUSED (exceeds_credits)") {
		t.Fatalf("refused convert: %v\n%s", err, output)
	}
	var usage usageError
	for _, bad := range [][]string{{"--amount", "1", "--receive", "1"}, {},
		{"--amount", "1", "--rate", "x"}, {"--amount", "1", "--ledgers", ""}} {
		if _, err := runRoot(t, append(append([]string{}, convert...), bad...)...); !errors.As(err, &usage) {
			t.Errorf("convert %v: %v, want a usage error", bad, err)
		}
	}

	output, err = runRoot(t, append([]string{"settle", "--partner", "50", "--until", "now",
		"--ledgers", ledgers}, connection...)...)
	if err != nil || !strings.Contains(output, "net 1234 (12.34 USD) payable") {
		t.Fatalf("settle: %v\n%s", err, output)
	}

	statement := filepath.Join(directory, "s.csv")
	os.WriteFile(statement, []byte("reference,amount\n77,12.34\n"), 0o600)
	reconcile := append([]string{"reconcile", "--statement", statement, "--account", "50",
		"--ledgers", ledgers}, connection...)
	if output, err := runRoot(t, reconcile...); err != nil ||
		!strings.Contains(output, "everything matches") {
		t.Fatalf("clean reconcile: %v\n%s", err, output)
	}
	os.WriteFile(statement, []byte("reference,amount\n77,12.35\n"), 0o600)
	if output, err := runRoot(t, reconcile...); !errors.Is(err, errNotReconciled) ||
		!strings.Contains(output, "amount  reference 77") {
		t.Fatalf("reconcile with a difference: %v\n%s", err, output)
	}
	for _, bad := range [][]string{{"--memory-entries", "10"}, {"--column", "amount"},
		{"--delimiter", ";;"}, {"--chain-anchor", "5:abc", "--http", "127.0.0.1:1",
			"--token", "t"},
		{"--chain-anchor", "x:5:" + strings.Repeat("ab", 32), "--http", "127.0.0.1:1",
			"--token", "t"},
		{"--chain-anchor", "-1:5:" + strings.Repeat("ab", 32), "--http", "127.0.0.1:1",
			"--token", "t"},
		{"--chain-anchor", "1:5:5:" + strings.Repeat("ab", 32), "--http", "127.0.0.1:1",
			"--token", "t"},
		{"--format", "xml"}, {"--match-by", "code"}, {"--account", "999"}} {
		if _, err := runRoot(t, append(append([]string{}, reconcile...), bad...)...); !errors.As(err, &usage) {
			t.Errorf("reconcile %v: %v, want a usage error", bad, err)
		}
	}
}
