package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/node"
	"sequent/core/shardmap"
)

// TestCompletionOfAnUnknownShellIsAUsageError: 'sequent completion bogus' is refused as a
// usage error (exit 2) naming the shell, and a known shell still prints its script. Cobra
// adds the completion group when Execute runs, after every other group was given its
// argument check, so an unknown shell used to print the group's help and exit 0.
func TestCompletionOfAnUnknownShellIsAUsageError(t *testing.T) {
	output, err := runRoot(t, "completion", "bogus")
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("sequent completion bogus: error %v (output %q), want a usage error naming it",
			err, output)
	}

	// The group alone still shows its help, and a known shell is still a command (its
	// script goes to the standard output cobra captured when the group was added).
	for _, arguments := range [][]string{{"completion"}, {"completion", "bash", "--help"}} {
		if output, err := runRoot(t, arguments...); err != nil || !strings.Contains(output, "Usage:") {
			t.Errorf("sequent %s: error %v, output %.80q", strings.Join(arguments, " "), err,
				output)
		}
	}
}

// TestServeWithAPortTakenCreatesNothing: serve given a binary protocol or replication
// address another process holds fails before the data directory is created or a
// development key printed. Both ports were bound only after recovery, which left a new
// data directory (SHARDMAP, epoch, keys.json, log) and a printed key behind.
func TestServeWithAPortTakenCreatesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	address := taken.Addr().String()
	directory := t.TempDir()
	for _, flags := range [][]string{
		{"--addr", address},
		{"--replication-listen", address, "--replication-key", strings.Repeat("k", 32)},
	} {
		data := filepath.Join(directory, "data")
		arguments := append([]string{"serve", "--data", data, "--http", "",
			"--addr", "127.0.0.1:0"}, flags...)
		output, err := runRootBounded(arguments...)
		if err == nil || !strings.Contains(err.Error(), address) ||
			!strings.Contains(err.Error(), "nothing was created") {
			t.Errorf("serve %s: error %v, want one naming %s and saying nothing was created",
				strings.Join(flags, " "), err, address)
		}
		if strings.Contains(output, "DEVELOPMENT key") {
			t.Errorf("serve %s: printed a development key: %q", strings.Join(flags, " "),
				output)
		}
		if _, statErr := os.Stat(data); !errors.Is(statErr, os.ErrNotExist) {
			entries, _ := os.ReadDir(data)
			t.Errorf("serve %s: left the data directory behind (%d entries)",
				strings.Join(flags, " "), len(entries))
			os.RemoveAll(data)
		}
	}
}

// TestUnusableFilesNamedByFlagsAreUsageErrors: what a flag or argument names that cannot
// be used is the user's to fix and exits 2, as the help's exit codes say: serve's keys
// file (missing, open to others, malformed; given or the data directory's own), serve on
// a data directory made with another shard map, and wal inspect or verify of a path that
// is not a directory. Each exited 1, the code of a run that failed.
func TestUnusableFilesNamedByFlagsAreUsageErrors(t *testing.T) {
	directory := t.TempDir()
	twoShards := filepath.Join(directory, "two-shards")
	if err := (node.Layout{Dir: twoShards}).RecordShardMap(shardmap.Hashed(2)); err != nil {
		t.Fatal(err)
	}
	brokenKeysData := filepath.Join(directory, "broken-keys-data")
	if err := os.MkdirAll(brokenKeysData, 0o755); err != nil {
		t.Fatal(err)
	}
	brokenKeys := node.Layout{Dir: brokenKeysData}.KeysPath()
	if err := os.WriteFile(brokenKeys, []byte(`{broken`), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func(data string, flags ...string) []string {
		return append([]string{"serve", "--data", data, "--http", "", "--addr", "127.0.0.1:0"},
			flags...)
	}
	for _, test := range []struct {
		arguments []string
		want      string
	}{
		{serve(filepath.Join(directory, "data"), "--keys", filepath.Join(directory, "missing.json")),
			"missing.json"},
		{serve(brokenKeysData), "keys.json"},
		{serve(twoShards, "--shards", "3"), "shard map"},
		{[]string{"wal", "verify", filepath.Join(directory, "missing")}, "not a directory"},
		{[]string{"wal", "inspect", brokenKeys}, "not a directory"},
	} {
		_, err := runRootBounded(test.arguments...)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), test.want) {
			t.Errorf("sequent %s: error %v, want a usage error (exit 2) naming %s",
				strings.Join(test.arguments, " "), err, test.want)
		}
	}
	if entries, err := os.ReadDir(twoShards); err != nil || len(entries) != 1 {
		t.Errorf("the refused start changed the two-shard directory: %d entries, %v",
			len(entries), err)
	}
}

// TestTransferLinkedAloneIsAUsageError: 'client transfer --flags linked' is refused
// before anything is sent (no server listens here), naming the flag: one transfer with
// linked opens a chain nothing closes, so the node could only answer
// linked_event_chain_open, exit 1. Other flags still reach the network (and fail there,
// with no server: not as a usage error of --flags).
func TestTransferLinkedAloneIsAUsageError(t *testing.T) {
	run := func(flags string) error {
		_, err := runRoot(t, "client", "transfer", "--id", "1", "--debit", "1", "--credit", "2",
			"--amount", "1", "--ledger", "1", "--code", "1", "--flags", flags,
			"--addr", "127.0.0.1:1", "--client-id", "1", "--key-id", "1",
			"--secret", strings.Repeat("5a", 32), "--timeout", "2s")
		return err
	}
	var usage usageError
	if err := run("linked"); !errors.As(err, &usage) || !strings.Contains(err.Error(), "linked") {
		t.Fatalf("transfer --flags linked: error %v, want a usage error naming linked", err)
	}
	if err := run("pending"); err == nil || strings.Contains(err.Error(), "--flags") {
		t.Fatalf("transfer --flags pending without a server: error %v, want a failed send", err)
	}
}
