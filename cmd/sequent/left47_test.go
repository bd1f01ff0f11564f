package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCompletionOfAnUnknownShellIsAUsageError: 'sequent completion bogus' is refused as a
// usage error (exit 2) naming the shell, and a known shell still prints its script. Cobra
// adds the completion group when Execute runs, after every other group was given its
// argument check, so an unknown shell used to print the group's help and exit 0.
func TestCompletionOfAnUnknownShellIsAUsageError(t *testing.T) {
	root := newRootCommand()
	var output bytes.Buffer
	root.SetOut(&output)
	root.SetErr(&output)
	root.SetArgs([]string{"completion", "bogus"})
	err := root.Execute()
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("sequent completion bogus: error %v (output %q), want a usage error naming it",
			err, output.String())
	}

	// The group alone still shows its help, and a known shell is still a command (its
	// script goes to the standard output cobra captured when the group was added).
	for _, arguments := range [][]string{{"completion"}, {"completion", "bash", "--help"}} {
		root = newRootCommand()
		output.Reset()
		root.SetOut(&output)
		root.SetErr(&output)
		root.SetArgs(arguments)
		if err := root.Execute(); err != nil || !strings.Contains(output.String(), "Usage:") {
			t.Errorf("sequent %s: error %v, output %.80q", strings.Join(arguments, " "), err,
				output.String())
		}
	}
}
