package e2e

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestEveryThreadStoppedReadsTheStoppedState: everyThreadStopped, which server.pause
// waits on, says no for a running process (this one), yes once a SIGSTOPped process is
// stopped, and no again after SIGCONT. A reading that always said yes would let pause
// return before the process stopped; one that always said no would hang it.
func TestEveryThreadStoppedReadsTheStoppedState(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc: server.pause is Linux only")
	}
	if everyThreadStopped(os.Getpid()) {
		t.Fatal("this running test process reads as stopped")
	}
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command to stop")
	}
	command := exec.Command(path, "60")
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		command.Process.Kill()
		command.Wait()
	})
	pid := command.Process.Pid
	if err := command.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stopped process to read as stopped", func() bool {
		return everyThreadStopped(pid)
	})
	if err := command.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the continued process to read as running", func() bool {
		return !everyThreadStopped(pid)
	})
}
