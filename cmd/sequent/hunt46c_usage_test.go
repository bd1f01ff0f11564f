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

	"sequent/core/shardmap"
)

// TestMisspeltSubcommandIsAUsageError runs command lines a user mistypes and requires
// each to be refused as a usage error (exit 2) with one line naming the word at fault. A
// misspelt subcommand of a group ('sequent wal verfy DIR') used to print the group's help
// and exit 0, so a script checking its logs read success; a stray argument and an unknown
// top-level command exited 1, the code of a run that failed.
func TestMisspeltSubcommandIsAUsageError(t *testing.T) {
	cases := []struct {
		arguments []string
		named     string
	}{
		{[]string{"wal", "verfy", t.TempDir()}, `"verfy"`},
		{[]string{"client", "tranfer", "1", "2"}, `"tranfer"`},
		{[]string{"client", "order", "plase"}, `"plase"`},
		{[]string{"admin", "promte"}, `"promte"`},
		{[]string{"admin", "risk", "bogus"}, `"bogus"`},
		{[]string{"serv"}, `"serv"`},
		{[]string{"serve", "sequent-data"}, `"sequent-data"`},
		{[]string{"version", "extra"}, `"extra"`},
	}
	for _, test := range cases {
		root := newRootCommand()
		var output bytes.Buffer
		root.SetOut(&output)
		root.SetErr(&output)
		root.SetArgs(test.arguments)
		err := root.Execute()
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("sequent %s: error %v (output %q), want a usage error (exit 2)",
				strings.Join(test.arguments, " "), err, output.String())
			continue
		}
		if !strings.Contains(err.Error(), test.named) || strings.Contains(err.Error(), "\n") {
			t.Errorf("sequent %s: error %q, want one line naming %s",
				strings.Join(test.arguments, " "), err, test.named)
		}
	}
}

// TestGroupAloneShowsHelp keeps what a group's name alone does: its help, exit 0.
func TestGroupAloneShowsHelp(t *testing.T) {
	for _, arguments := range [][]string{{}, {"client"}, {"wal"}, {"admin", "risk"},
		{"wal", "help"}, {"admin", "risk", "help"}} { // "GROUP help", cobra's idiom, too.
		root := newRootCommand()
		var output bytes.Buffer
		root.SetOut(&output)
		root.SetErr(&output)
		root.SetArgs(arguments)
		if err := root.Execute(); err != nil {
			t.Errorf("sequent %s: %v", strings.Join(arguments, " "), err)
		}
		if !strings.Contains(output.String(), "Available Commands:") {
			t.Errorf("sequent %s: shows no help: %q", strings.Join(arguments, " "), output.String())
		}
	}
}

// TestServeRefusesBadStartFlagsBeforeCreatingAnything: serve's flags that cannot work are
// refused before the data directory is created or a development key generated. A bad
// port in --addr used to be found only when the binary protocol listened, after recovery
// (the directory, a printed development key and a log left behind); an explicit keys file
// that cannot be loaded left a directory holding only SHARDMAP; --shards below 1 started
// a node of one shard without a word.
func TestServeRefusesBadStartFlagsBeforeCreatingAnything(t *testing.T) {
	directory := t.TempDir()
	openKeys := filepath.Join(directory, "open-keys.json")
	if err := os.WriteFile(openKeys, []byte(`{"version": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	brokenKeys := filepath.Join(directory, "broken-keys.json")
	if err := os.WriteFile(brokenKeys, []byte(`{broken`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--addr", "127.0.0.1:99999"}, "--addr"},
		{[]string{"--addr", "127.0.0.1:abc"}, "--addr"},
		{[]string{"--advertise", "10.0.0.1:70000"}, "--advertise"},
		{[]string{"--shards", "-3"}, "--shards -3"},
		{[]string{"--shards", "0"}, "--shards 0"},
		{[]string{"--shards", "257"}, "--shards 257"},
		{[]string{"--keys", filepath.Join(directory, "missing.json")}, "missing.json"},
		{[]string{"--keys", openKeys}, "open-keys.json"},
		{[]string{"--keys", brokenKeys}, "broken-keys.json"},
		// The archive directory is made at the first retirement, long after start.
		{[]string{"--wal-archive", openKeys}, "--wal-archive"},
		{[]string{"--wal-archive", filepath.Join(openKeys, "archive")}, "--wal-archive"},
	} {
		data := filepath.Join(directory, "data")
		arguments := append([]string{"serve", "--data", data, "--http", "",
			"--addr", "127.0.0.1:0"}, test.flags...)
		root := newRootCommand()
		var output bytes.Buffer
		root.SetOut(&output)
		root.SetErr(&output)
		root.SetArgs(arguments)
		// Bounds the run should a flag be accepted and the node start.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := root.ExecuteContext(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("serve %s: error %v, want one naming %s", strings.Join(test.flags, " "),
				err, test.want)
		}
		if _, statErr := os.Stat(data); !errors.Is(statErr, os.ErrNotExist) {
			entries, _ := os.ReadDir(data)
			t.Errorf("serve %s: left the data directory behind (%d entries)",
				strings.Join(test.flags, " "), len(entries))
			os.RemoveAll(data)
		}
	}
}

// TestClientQueryFlagsCheckedBeforeSending: query flags the server can only refuse are
// refused by the client as usage errors naming the flag. They used to be sent, and the
// answer was 'invalid_filter (69)' or 'invalid_filter_match (154)', exit 1, naming no
// flag; --debits with --credits silently listed only the credits.
func TestClientQueryFlagsCheckedBeforeSending(t *testing.T) {
	for _, test := range []struct {
		arguments []string
		want      string
	}{
		{[]string{"account-transfers", "1", "--limit", "0"}, "--limit 0"},
		{[]string{"account-transfers", "1", "--limit", "8190"}, "--limit 8190"},
		{[]string{"balance-history", "1", "--limit", "0"}, "--limit 0"},
		{[]string{"account-transfers", "1", "--from", "5", "--to", "3"}, "--from 5"},
		{[]string{"account-transfers", "1", "--debits", "--credits"}, "--debits and --credits"},
		{[]string{"order", "list", "--account", "1", "--limit", "0"}, "--limit 0"},
		{[]string{"order", "list", "--account", "1", "--limit", "9000"}, "--limit 9000"},
		{[]string{"order", "list"}, "--account"},
	} {
		root := newRootCommand()
		var output bytes.Buffer
		root.SetOut(&output)
		root.SetErr(&output)
		// No server listens on port 1: a request sent fails to connect instead.
		root.SetArgs(append([]string{"client", "--addr", "127.0.0.1:1", "--client-id", "1",
			"--key-id", "1", "--secret", strings.Repeat("ab", 32)}, test.arguments...))
		err := root.Execute()
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), test.want) {
			t.Errorf("client %s: error %v, want a usage error naming %s",
				strings.Join(test.arguments, " "), err, test.want)
		}
	}
}

// TestSettleBadQueryIsAUsageError: settle's help keeps exit 1 for a refused booking and 2
// for bad flags, but a window starting after its cut-off was refused by the netting with
// exit 1, and a partner named twice was reported as one id on two shards ("account 2 is
// on ledgers 1 and 1").
func TestSettleBadQueryIsAUsageError(t *testing.T) {
	address, keys := startTestServer(t)
	connection := []string{"--addr", address, "--keys", keys}
	for _, test := range []struct {
		arguments []string
		want      string
	}{
		{[]string{"--partner", "2", "--from", "2026-05-02", "--until", "2026-05-01"},
			"starts after its cut-off"},
		{[]string{"--partner", "2", "--partner", "2", "--until", "now"}, "--partner 2 is given twice"},
	} {
		output, err := runRoot(t, append(append([]string{"settle"}, test.arguments...),
			connection...)...)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), test.want) {
			t.Errorf("settle %s: error %v (output %q), want a usage error saying %q",
				strings.Join(test.arguments, " "), err, output, test.want)
		}
	}
}

// TestCreateAccountsLinkedCreatesTheChain: 'client create-accounts 1 2 --flags linked'
// set the linked flag on every account, the last one too, so the chain never closed and
// the server refused all of them (linked_event_failed, linked_event_chain_open): the
// flag could never work. The last account now closes the chain.
func TestCreateAccountsLinkedCreatesTheChain(t *testing.T) {
	running, keys, _ := startDevNode(t, shardmap.Spec{})
	output, err := runRoot(t, "client", "--addr", running.server.Address(), "--keys", keys,
		"create-accounts", "1", "2", "3", "--ledger", "1", "--code", "10", "--flags", "linked")
	if err != nil || strings.Count(output, ": created") != 3 {
		t.Fatalf("create-accounts --flags linked: error %v, output:\n%s", err, output)
	}
}
