package main

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"sequent/core/shardmap"
	"sequent/tools/deploy"
)

// runbookDataDirectory is the data directory of the shipped units (systemd/node.env's
// SEQUENT_DATA), which the alerts' runbooks name.
const runbookDataDirectory = "/var/lib/sequent"

// runbookWalCommand finds a runbook's `sequent wal inspect|verify PATH` on the units' data
// directory.
var runbookWalCommand = regexp.MustCompile("`sequent wal (inspect|verify) (" +
	regexp.QuoteMeta(runbookDataDirectory) + "[^` ]*)`")

// TestRunbookWalCommandsRun (hunt45b): every `sequent wal inspect|verify` an alert's
// runbook tells an operator to type must work on the data directory of the shipped
// units. SequentDiskSpaceLow's said `sequent wal inspect /var/lib/sequent/wal`, a
// directory no node has (a shard's log is DATA/log): the command failed with "open
// /var/lib/sequent/wal/log: no such file or directory". The test runs each such command
// on a live node's data directory standing for /var/lib/sequent.
func TestRunbookWalCommandsRun(t *testing.T) {
	env, err := fs.ReadFile(deploy.Files, "systemd/node.env")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "\nSEQUENT_DATA="+runbookDataDirectory+"\n") {
		t.Fatalf("systemd/node.env no longer sets SEQUENT_DATA=%s", runbookDataDirectory)
	}
	rules, err := fs.ReadFile(deploy.Files, "prometheus/sequent-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	commands := runbookWalCommand.FindAllStringSubmatch(string(rules), -1)
	if len(commands) == 0 {
		t.Fatal("no runbook names a `sequent wal` command on the data directory")
	}
	running, _, _ := startDevNode(t, shardmap.Spec{})
	for _, command := range commands {
		path := running.data + strings.TrimPrefix(command[2], runbookDataDirectory)
		if out, err := runWal(command[1], path); err != nil {
			t.Errorf("runbook command %q on a node's data directory: %v\n%s", command[0], err,
				out)
		}
	}
}

// runWal runs `sequent wal args...` in process and returns its output and error.
func runWal(args ...string) (string, error) { return runSubcommand(newWalCommand(), args...) }
