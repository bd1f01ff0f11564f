//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// killProcessGroup makes a cancelled command take its children with it: go test runs the
// test binary as a child, and a mutant that hangs hangs there.
func killProcessGroup(command *exec.Cmd) {
	command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	command.Cancel = func() error { return syscall.Kill(-command.Process.Pid, syscall.SIGKILL) }
	command.WaitDelay = 10 * time.Second
}
