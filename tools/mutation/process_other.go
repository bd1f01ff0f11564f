//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// killProcessGroup: without process groups only go test itself is killed on a timeout.
func killProcessGroup(command *exec.Cmd) {
	command.WaitDelay = 10 * time.Second
}
