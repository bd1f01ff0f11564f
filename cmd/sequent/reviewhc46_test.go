package main

import (
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
