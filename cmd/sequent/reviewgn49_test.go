package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestReviewGN49OpenFilesLimitBuildsOnFreeBSD: syscall.Rlimit.Cur is int64 on FreeBSD
// (uint64 on Linux and macOS); openFilesLimit returned it as uint64 unconverted, so
// gnet49's start-up warning broke `GOOS=freebsd go build ./cmd/sequent`, which built
// before it.
func TestReviewGN49OpenFilesLimitBuildsOnFreeBSD(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	command := exec.Command(goTool, "vet", ".")
	command.Env = append(command.Environ(), "GOOS=freebsd", "GOARCH=amd64", "CGO_ENABLED=0")
	output, err := command.CombinedOutput()
	if err != nil && strings.Contains(string(output), "openfiles_") {
		t.Fatalf("GOOS=freebsd (from %s) fails in the open-files code: %v\n%s", runtime.GOOS, err, output)
	}
}
