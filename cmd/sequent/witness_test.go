package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/replication"
	"sequent/tools/testcert"
)

// TestWitnessTLSFlags: the witness refuses an incomplete or unreadable set of replication
// TLS flags as a usage error (exit 2) naming the problem, before it listens.
func TestWitnessTLSFlags(t *testing.T) {
	files := testcert.NewAuthority(t, "witness test CA").IssueFiles(t)
	for _, test := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate only", []string{"--replication-tls-cert", files.Certificate}, "all three"},
		{"key is not a CA", []string{"--replication-tls-cert", files.Certificate,
			"--replication-tls-key", files.Key, "--replication-tls-ca", files.Key}, "no PEM certificate"},
	} {
		root := newRootCommand()
		root.AddCommand(newWitnessCommand())
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		args := append([]string{"witness", "--listen", "127.0.0.1:0", "--replication-key", "k",
			"--state-in-memory"}, test.args...)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		checkUsageError(t, err, args)
		if !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}

// runWitnessCommand runs `sequent witness` with args and returns its error. Each test
// gives arguments that fail before the witness would wait for a signal.
func runWitnessCommand(args ...string) error {
	root := newRootCommand()
	root.AddCommand(newWitnessCommand())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"witness", "--replication-key", "k"}, args...))
	return root.ExecuteContext(context.Background())
}

// TestWitnessStateFlags: the witness needs to be told where to keep its state, or to keep
// it in memory explicitly; neither, or both, is a usage error (exit 2) naming --state,
// given before it listens (the listen address here has a port out of range: a witness
// that went on would fail there instead, with no usage error).
func TestWitnessStateFlags(t *testing.T) {
	state := filepath.Join(t.TempDir(), "witness.state")
	for _, args := range [][]string{
		{"--listen", "127.0.0.1:99999"},
		{"--listen", "127.0.0.1:99999", "--state", state, "--state-in-memory"},
	} {
		err := runWitnessCommand(args...)
		checkUsageError(t, err, args)
		if !strings.Contains(err.Error(), "--state") {
			t.Errorf("%v: error %v, want one naming --state", args, err)
		}
	}
}

// TestWitnessIDFlag: an id the witness could not announce (a space, too long) is a usage
// error naming --id, given before it listens.
func TestWitnessIDFlag(t *testing.T) {
	for _, id := range []string{"pair a", strings.Repeat("i", replication.WitnessIDBytesMax+1)} {
		args := []string{"--listen", "127.0.0.1:99999", "--state-in-memory", "--id", id}
		err := runWitnessCommand(args...)
		checkUsageError(t, err, args)
		if !strings.Contains(err.Error(), "--id") {
			t.Errorf("%v: error %v, want one naming --id", args, err)
		}
	}
}

// TestWitnessRefusesAnUnusableStateFile: a state file that does not verify stops the
// witness at start with an error naming it (not a usage error: the flags are right),
// instead of a witness at epoch 0 that would let a stale primary renew the lease.
func TestWitnessRefusesAnUnusableStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "witness.state")
	if err := os.WriteFile(state, []byte("not a witness state"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--listen", "127.0.0.1:0", "--state", state}
	err := runWitnessCommand(args...)
	var usage usageError
	if !errors.Is(err, replication.ErrWitnessState) || errors.As(err, &usage) ||
		!strings.Contains(err.Error(), state) {
		t.Fatalf("%v: error %v, want ErrWitnessState naming %s (not a usage error)", args, err,
			state)
	}
}
