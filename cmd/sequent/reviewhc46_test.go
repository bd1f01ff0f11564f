package main

import (
	"errors"
	"strings"
	"testing"

	"sequent/core/shardmap"
)

// TestCreateAccountsLinkedIsAllOrNone: the help of 'client create-accounts' says that with
// --flags linked the ids are created all or none. TestCreateAccountsLinkedCreatesTheChain
// only shows that a chain of valid accounts is created, which it also is with no linked
// flag at all; here one account of the chain is refused (its id exists on another
// ledger), and the others must not be created either.
func TestCreateAccountsLinkedIsAllOrNone(t *testing.T) {
	running, keys, _ := startDevNode(t, shardmap.Spec{})
	connection := []string{"client", "--addr", running.server.Address(), "--keys", keys}
	if output, err := runRoot(t, append(connection, "create-accounts", "2", "--ledger", "1",
		"--code", "10")...); err != nil {
		t.Fatalf("create-accounts 2: %v\n%s", err, output)
	}
	output, _ := runRoot(t, append(connection, "create-accounts", "1", "2", "3", "--ledger",
		"2", "--code", "10", "--flags", "linked")...)
	if strings.Contains(output, ": created") {
		t.Fatalf("create-accounts 1 2 3 --flags linked with 2 refused created some:\n%s", output)
	}
	output, err := runRoot(t, append(connection, "lookup-accounts", "1", "3")...)
	if err != nil {
		t.Fatalf("lookup-accounts: %v\n%s", err, output)
	}
	if !strings.Contains(output, "0 of 2 found") {
		t.Errorf("accounts 1 or 3 exist after their chain failed:\n%s", output)
	}
}

// TestSettleUnknownPartnerIsAUsageError: settle's help gives exit 1 to a refused booking
// and 2 to bad flags; a --partner that names no account (no booking was tried) exited 1.
// The operators' GET /v1/settlement answers the same query 400, a bad query.
func TestSettleUnknownPartnerIsAUsageError(t *testing.T) {
	running, keys, _ := startDevNode(t, shardmap.Spec{})
	output, err := runRoot(t, "settle", "--addr", running.server.Address(), "--keys", keys,
		"--partner", "999", "--until", "now")
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "999") {
		t.Errorf("settle --partner 999 (no such account): error %v (output %q), want a usage "+
			"error (exit 2) naming the account", err, output)
	}
}
