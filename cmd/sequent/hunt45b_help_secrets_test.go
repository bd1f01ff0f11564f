package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpNeverShowsASecret (hunt45b): the admin token and a client's secret may come
// from the environment (SEQUENT_ADMIN_TOKEN, SEQUENT_SECRET: README and --help advise it
// over a flag, which `ps` shows). They were the flags' defaults, and --help prints every
// flag's default: `sequent admin --help` on an operator's shell printed the admin token
// ("--token string ... (default \"<token>\")"), likewise `sequent reconcile --help`,
// and `sequent client --help` and `sequent bench --help` the client's key secret. The
// variables must still be used, and never shown.
func TestHelpNeverShowsASecret(t *testing.T) {
	const token, secret = "admin-token-from-environment-4a5b", "c0ffee5ec4e7c0ffee5ec4e7"
	t.Setenv("SEQUENT_ADMIN_TOKEN", token)
	t.Setenv("SEQUENT_SECRET", secret)
	for _, c := range []struct {
		name    string
		command func() *cobra.Command
		args    []string
	}{
		{"admin", newAdminCommand, []string{"admin", "--help"}},
		{"admin risk", newAdminCommand, []string{"admin", "risk", "list", "--help"}},
		{"reconcile", newReconcileCommand, []string{"reconcile", "--help"}},
		{"client", newClientCommand, []string{"client", "--help"}},
		{"bench", newBenchCommand, []string{"bench", "--help"}},
	} {
		text, err := runSubcommand(c.command(), c.args[1:]...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if strings.Contains(text, token) || strings.Contains(text, secret) {
			t.Errorf("%s --help shows a secret from the environment:\n%s", c.name, text)
		}
	}
	// The token from the environment still reaches the server (TestAdminCommand checks
	// the same without the fix).
	node, address := startAdminTestServer(t, "", "")
	t.Setenv("SEQUENT_ADMIN_TOKEN", adminTestToken)
	if out, err := runAdmin(t, "snapshot", "--http", address); err != nil {
		t.Fatalf("admin snapshot with SEQUENT_ADMIN_TOKEN: %v\n%s", err, out)
	}
	if events := node.eventList(); len(events) != 2 || events[1] != "snapshot" {
		t.Fatalf("events %v", events)
	}
}
