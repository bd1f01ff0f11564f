package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
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
	for _, arguments := range [][]string{{}, {"client"}, {"wal"}, {"admin", "risk"}} {
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
