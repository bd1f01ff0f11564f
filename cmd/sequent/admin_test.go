package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/netio/ops"
	"sequent/tools/testcert"
)

const adminTestToken = "admin-test-token-0123456789"

// adminTestNode is a fake node behind a real ops server: it records audit records and
// actions in order.
type adminTestNode struct {
	mutex    sync.Mutex
	events   []string
	auditErr error
}

func (n *adminTestNode) record(event string) {
	n.mutex.Lock()
	n.events = append(n.events, event)
	n.mutex.Unlock()
}

func (n *adminTestNode) eventList() []string {
	n.mutex.Lock()
	defer n.mutex.Unlock()
	return append([]string(nil), n.events...)
}

// startAdminTestServer runs an ops server with fake sources on a random loopback port,
// with TLS when certFile is set.
func startAdminTestServer(t *testing.T, certFile, keyFile string) (*adminTestNode, string) {
	t.Helper()
	node := &adminTestNode{}
	sources := ops.Sources{
		Snapshot: func() ops.Snapshot {
			return ops.Snapshot{Version: "test", Role: ops.RoleStandby, Epoch: 4,
				Replication: ops.ReplicationStats{Mode: ops.ModeSync}}
		},
		Audit: func(record ops.AuditRecord) error {
			node.mutex.Lock()
			auditErr := node.auditErr
			node.mutex.Unlock()
			if auditErr != nil {
				return auditErr
			}
			node.record("audit:" + record.Who + ":" + record.Action + ":" + record.Detail)
			return nil
		},
		Promote:     func() (uint64, error) { node.record("promote"); return 5, nil },
		SnapshotNow: func() error { node.record("snapshot"); return nil },
		ReloadKeys:  func() error { node.record("reload-keys"); return nil },
		SetLogLevel: func(level string) error { node.record("log-level:" + level); return nil },
	}
	server, err := ops.New(ops.Config{Address: "127.0.0.1:0", TLSCertFile: certFile,
		TLSKeyFile: keyFile, Tokens: ops.TokenChecker(map[string]string{"ops": adminTestToken}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	})
	return node, server.Address()
}

// runAdmin runs `sequent admin args...` and returns its output and error.
func runAdmin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runSubcommand(newAdminCommand(), args...)
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// TestAdminCommand runs every subcommand against a real ops server: readable output,
// --json, the token from the environment, the audit written before each action; then the
// failures and their exit classes: no token and bad arguments are usage errors (exit 2),
// a wrong token and a failed audit are refusals (exit 1) with the server's reason.
func TestAdminCommand(t *testing.T) {
	node, address := startAdminTestServer(t, "", "")
	common := []string{"--http", address, "--token", adminTestToken}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"promote"}, "promoted: now primary at epoch 5"},
		{[]string{"snapshot"}, "snapshot requested"},
		{[]string{"reload-keys"}, "keys reloaded"},
		{[]string{"log-level", "debug"}, "log level set to debug"},
		{[]string{"status"}, `"role": "standby"`},
	}
	for _, step := range steps {
		out, err := runAdmin(t, append(step.args, common...)...)
		if err != nil || !strings.Contains(out, step.want) {
			t.Errorf("%v: %q %v", step.args, out, err)
		}
	}
	want := []string{"audit:ops:promote:", "promote", "audit:ops:snapshot:", "snapshot",
		"audit:ops:reload-keys:", "reload-keys", "audit:ops:log-level:level=debug",
		"log-level:debug"}
	if events := node.eventList(); strings.Join(events, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", events, want)
	}

	out, err := runAdmin(t, "promote", "--json", "--http", address, "--token", adminTestToken)
	var reply ops.Reply
	if err != nil || json.Unmarshal([]byte(out), &reply) != nil || !reply.OK || reply.Epoch != 5 {
		t.Errorf("--json promote: %q %v", out, err)
	}
	out, err = runAdmin(t, "status", "--json", "--http", "http://"+address)
	var status ops.Status
	if err != nil || json.Unmarshal([]byte(out), &status) != nil || status.Epoch != 4 ||
		strings.Count(out, "\n") != 1 {
		t.Errorf("--json status: %q %v", out, err)
	}
	t.Setenv("SEQUENT_ADMIN_TOKEN", adminTestToken)
	if out, err := runAdmin(t, "snapshot", "--http", address); err != nil ||
		!strings.Contains(out, "snapshot requested") {
		t.Errorf("token from the environment: %q %v", out, err)
	}
}

// TestAdminCommandFailures checks each failure's exit class and one-line message.
func TestAdminCommandFailures(t *testing.T) {
	node, address := startAdminTestServer(t, "", "")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := closed.Addr().String()
	closed.Close()
	cases := []struct {
		args  []string
		usage bool   // Exit 2; else exit 1.
		want  string // In the error.
	}{
		{[]string{"promote", "--http", address, "--token", ""}, true, "no admin token"},
		{[]string{"promote", "--http", address, "--token", "wrong"}, false,
			"promote refused: forbidden: the token was not accepted (HTTP 403)"},
		{[]string{"log-level", "verbose", "--http", address, "--token", "x"}, true, "verbose"},
		{[]string{"log-level", "--http", address, "--token", "x"}, true, "accepts 1 arg"},
		{[]string{"snapshot", "now", "--http", address, "--token", "x"}, true, "accepts 0 arg"},
		{[]string{"promote", "--bogus"}, true, "unknown flag"},
		{[]string{"status", "--http", unreachable}, true, "cannot reach"},
		{[]string{"status", "--http", "ftp://" + address}, true, "want host:port"},
		{[]string{"status", "--http", "http://" + address + "/x"}, true, "want host:port"},
		{[]string{"status", "--http", "http://" + address, "--tls"}, true, "plain http"},
		{[]string{"status", "--http", address, "--ca", "/nonexistent.pem"}, true, "--ca"},
	}
	for _, c := range cases {
		_, err := runAdmin(t, c.args...)
		if err == nil || isUsage(err) != c.usage || !strings.Contains(err.Error(), c.want) ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v (usage %v), want usage %v and %q", c.args, err, isUsage(err),
				c.usage, c.want)
		}
	}
	node.mutex.Lock()
	node.auditErr = errors.New("log is closed")
	node.mutex.Unlock()
	_, err = runAdmin(t, "promote", "--http", address, "--token", adminTestToken)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "audit_failed") ||
		!strings.Contains(err.Error(), "log is closed") {
		t.Errorf("audit failure: %v", err)
	}
	if events := node.eventList(); len(events) != 0 {
		t.Errorf("events %v", events)
	}
}

// TestAdminCommandTLS talks HTTPS to a server with a certificate made here: --ca trusts
// it, --insecure skips the check, and without either the handshake fails (exit 2).
func TestAdminCommandTLS(t *testing.T) {
	files := testcert.NewAuthority(t, "sequent admin test CA").IssueFiles(t)
	_, address := startAdminTestServer(t, files.Certificate, files.Key)
	for _, args := range [][]string{
		{"promote", "--http", address, "--ca", files.Authority, "--token", adminTestToken},
		{"promote", "--http", "https://" + address, "--insecure", "--token", adminTestToken},
	} {
		if out, err := runAdmin(t, args...); err != nil || !strings.Contains(out, "epoch 5") {
			t.Errorf("%v: %q %v", args, out, err)
		}
	}
	_, err := runAdmin(t, "status", "--http", "https://"+address)
	if err == nil || !isUsage(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}
