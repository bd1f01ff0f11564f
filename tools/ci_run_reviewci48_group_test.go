package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitForFile polls until path holds something, failing the test after besideStopWaitMax
// (a bound on a hang: the script writes it at once).
func waitForFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(besideStopWaitMax)
	for {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was never written", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReviewci48CIStopsStepsBesideWhenItsGroupIsKilled: a runner that ends .ci/run by
// killing its process group with SIGKILL (timeout -k, a harness's Setpgid and
// kill(-pgid)) gives the EXIT trap no chance to run. Until session 48 the steps beside
// were in the script's group and went with it; since they lead groups of their own
// (set -m), they must notice the script is gone by themselves, or a race or guard run
// goes on for many minutes after CI was stopped.
func TestReviewci48CIStopsStepsBesideWhenItsGroupIsKilled(t *testing.T) {
	requireBashAndProc(t)
	functions := ciRunBesideFunctions(t)
	directory := t.TempDir()
	pidFile := filepath.Join(directory, "grandchild.pid")
	readyFile := filepath.Join(directory, "ready")
	script := "set -euo pipefail\nstarted=$(date +%s)\n" + functions + "\n" +
		"beside long sh -c 'sleep 600 & echo $! >" + pidFile + "; wait'\n" +
		"while [ ! -s " + pidFile + " ]; do sleep 0.05; done\n" +
		"echo ready >" + readyFile + "\n" +
		"sleep 600 # a long step in the foreground\n"
	outputFile, err := os.Create(filepath.Join(directory, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer outputFile.Close()
	command := exec.Command("bash", "-c", script)
	command.Stdout, command.Stderr = outputFile, outputFile
	command.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	group := command.Process.Pid
	t.Cleanup(func() { syscall.Kill(-group, syscall.SIGKILL) })
	waitForFile(t, readyFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(waitForFile(t, pidFile))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := syscall.Kill(-group, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	command.Wait()
	deadline := time.Now().Add(besideStopWaitMax)
	for processRunning(pid) {
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(outputFile.Name())
			t.Fatalf("the step beside is still running %v after the script's process group was killed:\n%s",
				besideStopWaitMax, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
