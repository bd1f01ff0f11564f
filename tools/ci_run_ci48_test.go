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

// besideStopWaitMax bounds how long TestCIStopsStepsBesideOnEarlyExit waits for a step
// left beside to be gone after the script has exited: a bound on a hang, not a timing
// assertion (the stop is a signal sent before the script exits).
const besideStopWaitMax = 30 * time.Second

// processRunning reports whether the process exists and is not a zombie (a killed
// process whose parent died is reparented, and in a container may never be reaped).
func processRunning(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	text := string(stat)
	closing := strings.LastIndexByte(text, ')')
	return closing < 0 || len(text) < closing+3 || text[closing+2] != 'Z'
}

// requireBashAndProc skips a test of .ci/run's process handling where there is no bash to
// run it or no /proc to see its processes in.
func requireBashAndProc(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
}

// TestCIStopsStepsBesideOnEarlyExit: when a step fails while another runs beside it
// (set -e ends .ci/run before the step beside is collected), the step beside and the
// processes it started are stopped on exit. Before session 48 they went on running for
// minutes (a race or guard run) on a machine whose CI had already failed.
func TestCIStopsStepsBesideOnEarlyExit(t *testing.T) {
	requireBashAndProc(t)
	functions := ciRunBesideFunctions(t)
	directory := t.TempDir()
	pidFile := filepath.Join(directory, "grandchild.pid")
	// The step's command starts a child of its own (as go test starts a test binary),
	// which writes its pid and sleeps far longer than the test waits.
	script := "set -euo pipefail\nstarted=$(date +%s)\n" + functions + "\n" +
		"beside long sh -c 'sleep 600 & echo $! >" + pidFile + "; wait'\n" +
		"while [ ! -s " + pidFile + " ]; do sleep 0.05; done\n" +
		"false # a step that fails\n" +
		"echo NOT-REACHED\n"
	// The output goes to a file, not a pipe: a step left running beside would hold a
	// pipe open, and the test would wait for it instead of failing.
	outputFile, createErr := os.Create(filepath.Join(directory, "output"))
	if createErr != nil {
		t.Fatal(createErr)
	}
	command := exec.Command("bash", "-c", script)
	command.Stdout, command.Stderr = outputFile, outputFile
	err := command.Run()
	outputFile.Close()
	out, _ := os.ReadFile(outputFile.Name())
	if err == nil || strings.Contains(string(out), "NOT-REACHED") {
		t.Fatalf("the script went on past a failed step (%v):\n%s", err, out)
	}
	data, readErr := os.ReadFile(pidFile)
	if readErr != nil {
		t.Fatal(readErr)
	}
	pid, convErr := strconv.Atoi(strings.TrimSpace(string(data)))
	if convErr != nil {
		t.Fatal(convErr)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	deadline := time.Now().Add(besideStopWaitMax)
	for processRunning(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the step beside is still running %v after the script exited:\n%s",
				besideStopWaitMax, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
