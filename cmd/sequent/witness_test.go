package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
		args := append([]string{"witness", "--listen", "127.0.0.1:0", "--replication-key", "k"},
			test.args...)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		checkUsageError(t, err, args)
		if !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}
