package e2e

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/tools/testlog"
)

// TestReviewHC49WaitingStandbySurvivesSIGHUP: serve's help says SIGHUP rereads the keys
// file and the HTTP certificate; but serve installed its SIGHUP handler only once the
// node ran (waitAndStop), so a SIGHUP to a standby still waiting for its primary (a
// routine reload, say after renewing the certificate) took Go's default action and
// killed the process. The standby must stay up and still stop cleanly on SIGTERM.
func TestReviewHC49WaitingStandbySurvivesSIGHUP(t *testing.T) {
	output := &testlog.Buffer{}
	command := exec.Command(binary, "serve", "--data", t.TempDir(), "--addr", freePort(t),
		"--http", "", "--standby-of", freePort(t), "--replication-listen", freePort(t),
		"--replication-key", replicationTestKey)
	command.Stdout, command.Stderr = output, output
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- command.Wait() }()
	t.Cleanup(func() { command.Process.Kill() })
	eventually(t, "the standby to wait for its primary", func() bool {
		return strings.Contains(output.String(), "primary not reachable yet")
	})
	command.Process.Signal(syscall.SIGHUP)
	command.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if !strings.Contains(output.String(), "stopped while waiting for the primary") {
			t.Fatalf("exit (%v) after SIGHUP then SIGTERM without a clean stop:\n%s", err,
				output)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the standby ignored SIGTERM while waiting for its primary:\n%s", output)
	}
}
