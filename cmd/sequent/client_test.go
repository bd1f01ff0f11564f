package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/jsonview"
)

// startTestServer runs a netio server in front of the fake shard on a random port and
// writes a keys file with one development client; it returns the address and the file.
func startTestServer(t *testing.T) (string, string) {
	t.Helper()
	address, path, _, _ := startTestBackend(t)
	return address, path
}

// startTestBackend is startTestServer, also returning the fake shard and the development
// client's keys (to make reports for it).
func startTestBackend(t *testing.T) (address, path string, backend *fakeshard.Backend,
	dev netio.DevKey) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "keys.json")
	dev, err := netio.GenerateDevKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	backend = fakeshard.New(fakeshard.Config{})
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys}, backend)
	if err != nil {
		t.Fatal(err)
	}
	backend.Start(server)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		backend.Close()
	})
	return server.Address(), path, backend, dev
}

// runClient runs `sequent client args...` and returns its output and error.
func runClient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runSubcommand(newClientCommand(), args...)
}

// runSubcommand runs `sequent NAME args...` for a subcommand named NAME in process and
// returns its output (standard output and error together) and error.
func runSubcommand(command *cobra.Command, args ...string) (string, error) {
	root := newRootCommand()
	root.AddCommand(command)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{command.Name()}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestClientCommand runs the ledger subcommands against a server with the fake shard:
// create accounts, a single, a pending, a post, a void and a linked transfer, lookups and
// queries, in text and JSON; a refused event exits 1 with its status named.
func TestClientCommand(t *testing.T) {
	address, keys := startTestServer(t)
	common := []string{"--addr", address, "--keys", keys}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"create-accounts", "1", "2", "--ledger", "1", "--code", "1",
			"--flags", "history"}, "account 2: created"},
		{[]string{"transfer", "--id", "10", "--debit", "1", "--credit", "2", "--amount",
			"100", "--ledger", "1", "--code", "1"}, "transfer 10: created"},
		{[]string{"transfer", "--id", "11", "--debit", "1", "--credit", "2", "--amount",
			"40", "--ledger", "1", "--code", "1", "--pending"}, "transfer 11: created"},
		{[]string{"post", "--id", "12", "--pending-id", "11"}, "transfer 12: created"},
		{[]string{"transfer", "--id", "13", "--debit", "1", "--credit", "2", "--amount",
			"5", "--ledger", "1", "--code", "1", "--pending"}, "transfer 13: created"},
		{[]string{"void", "--id", "14", "--pending-id", "13"}, "transfer 14: created"},
		{[]string{"linked", "--ledger", "1", "--code", "1", "--leg", "20:1:2:1",
			"--leg", "21:2:1:1"}, "transfer 21: created"},
		{[]string{"lookup-accounts", "2", "9"}, "credits posted 141 pending 0"},
		{[]string{"lookup-transfers", "12"}, "(pending 11)"},
		{[]string{"account-transfers", "2", "--reversed", "--limit", "2"}, "2 transfers"},
		{[]string{"balance-history", "2"}, "7 entries"},
	}
	for _, step := range steps {
		out, err := runClient(t, append(common, step.args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", step.args, err, out)
		}
		if !strings.Contains(out, step.want) {
			t.Fatalf("%v: output lacks %q:\n%s", step.args, step.want, out)
		}
	}
	out, err := runClient(t, append(common, "--json", "lookup-accounts", "1")...)
	var accounts []jsonview.Account
	if err != nil || json.Unmarshal([]byte(out), &accounts) != nil || len(accounts) != 1 ||
		accounts[0].DebitsPosted != "141" {
		t.Fatalf("json lookup: %v %s", err, out)
	}
	out, err = runClient(t, append(common, "transfer", "--id", "30", "--debit", "1",
		"--credit", "77", "--amount", "1", "--ledger", "1", "--code", "1")...)
	if !errors.Is(err, errEventsFailed) || !strings.Contains(out,
		"refused: credit_account_not_found (42)") {
		t.Fatalf("refused transfer: %v\n%s", err, out)
	}
	out, err = runClient(t, append(common, "create-accounts", "1", "--ledger", "1",
		"--code", "1", "--flags", "history")...)
	if err != nil || !strings.Contains(out, "already exists") {
		t.Fatalf("re-create: %v\n%s", err, out)
	}
}

// TestClientCommandCredentials: explicit --secret works; bad flags and an unreachable
// server are usage errors (exit 2); a wrong secret is reported clearly.
func TestClientCommandCredentials(t *testing.T) {
	address, keys := startTestServer(t)
	file, err := netio.LoadKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	client := file.Clients()[0]
	secret, _ := client.Secret(1)
	out, err := runClient(t, "--addr", address, "--client-id", "1", "--key-id", "1",
		"--secret", hex.EncodeToString(secret), "lookup-accounts", "1")
	if err != nil || !strings.Contains(out, "0 of 1 found") {
		t.Fatalf("explicit secret: %v\n%s", err, out)
	}
	var usage usageError
	cases := [][]string{
		{"--addr", address, "--keys", keys, "transfer", "--id", "x1"},
		{"--addr", address, "--keys", keys, "create-accounts"},
		{"--addr", address, "--keys", keys, "lookup-accounts", "--bogus", "1"},
		{"--addr", address, "--keys", filepath.Join(t.TempDir(), "none.json"),
			"lookup-accounts", "1"},
		{"--addr", "127.0.0.1:1", "--keys", keys, "--timeout", "2s", "lookup-accounts", "1"},
		{"--addr", address, "--client-id", "1", "--key-id", "1", "--secret",
			strings.Repeat("ab", 32), "lookup-accounts", "1"},
	}
	for _, args := range cases {
		_, err := runClient(t, args...)
		if !errors.As(err, &usage) {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
	}
	_, err = runClient(t, "--addr", address, "--client-id", "1", "--key-id", "1", "--secret",
		strings.Repeat("ab", 32), "lookup-accounts", "1")
	if err == nil || !strings.Contains(err.Error(), "login_bad_signature") {
		t.Fatalf("wrong secret: %v", err)
	}
}
