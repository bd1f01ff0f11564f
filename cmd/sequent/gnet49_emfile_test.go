//go:build linux

package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gnet49DescriptorHeadroom is how many file descriptors above those open before the
// start the child serve may use: enough to start the node (log, epoll, listeners), few
// enough that gnet49ConnectionsMax connections exhaust them.
const gnet49DescriptorHeadroom = 64

// gnet49ConnectionsMax bounds the connections the test opens to exhaust the child's
// descriptors.
const gnet49ConnectionsMax = 256

// TestGnet49ServeProcess is the child of TestGnet49OutOfFileDescriptorsStopsTheNode: it
// lowers its own RLIMIT_NOFILE (soft and hard, so nothing raises it back) and runs
// serve with the arguments in SEQUENT_GNET49_ARGS, exiting as main does.
func TestGnet49ServeProcess(t *testing.T) {
	arguments := os.Getenv("SEQUENT_GNET49_ARGS")
	if arguments == "" {
		t.Skip("the serve child of TestGnet49OutOfFileDescriptorsStopsTheNode")
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	limit := uint64(len(open) + gnet49DescriptorHeadroom)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE,
		&syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	root := newRootCommand()
	root.SetArgs(strings.Split(arguments, "\n"))
	if err := root.Execute(); err != nil {
		os.Stderr.WriteString("sequent: " + err.Error() + "\n")
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(exitUsage)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// TestGnet49OutOfFileDescriptorsStopsTheNode: gnet v2.9.7 ends its engine on one accept
// error such as EMFILE, and serve went on running without its binary port (its /healthz
// 200, its replication on): no client could trade and no supervisor saw it down. A
// serve process whose descriptors run out under connections must now exit, non-zero.
// Bounded by count (connections) and a generous timeout; loopback only.
func TestGnet49OutOfFileDescriptorsStopsTheNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a serve process")
	}
	arguments := strings.Join([]string{"serve", "--data", filepath.Join(t.TempDir(), "data"),
		"--addr", "127.0.0.1:0", "--http", ""}, "\n")
	child := exec.Command(os.Args[0], "-test.run=^TestGnet49ServeProcess$")
	child.Env = append(os.Environ(), "SEQUENT_GNET49_ARGS="+arguments)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addresses := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			line := scanner.Text()
			if _, after, found := strings.Cut(line, "binary protocol on "); found {
				address, _, _ := strings.Cut(after, ",")
				addresses <- address
			}
		}
		exited <- child.Wait()
	}()
	t.Cleanup(func() { child.Process.Kill() })
	var address string
	select {
	case address = <-addresses:
	case err := <-exited:
		t.Fatalf("serve exited before it served: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not start\n%s", stderr.String())
	}
	// Connections held open until the child's descriptors are all used: the next accept
	// fails EMFILE. More are made until the child exits (its listener then closes and a
	// dial is refused) or the count runs out.
	var connections []net.Conn
	defer func() {
		for _, connection := range connections {
			connection.Close()
		}
	}()
	for range gnet49ConnectionsMax {
		connection, err := net.DialTimeout("tcp", address, 10*time.Second)
		if err != nil {
			break
		}
		connections = append(connections, connection)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("serve ended with %v, want exit code 1\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "binary protocol server stopped on its own") {
			t.Fatalf("serve's output does not say why it stopped:\n%s", stderr.String())
		}
		if strings.Contains(stderr.String(), "already in shutdown") {
			t.Fatalf("serve's stop reports the engine gnet had stopped as a failure:\n%s",
				stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve still runs after %d connections exhausted its descriptors\n%s",
			len(connections), stderr.String())
	}
}

// TestGnet49OpenFilesWarning: serve warns at start when its open-files limit is low (the
// binary port's connections would exhaust it), and says nothing when it is high enough or
// unknown.
func TestGnet49OpenFilesWarning(t *testing.T) {
	for _, limit := range []uint64{0, openFilesWarningBelow, 65536} {
		if warning := openFilesWarning(limit); warning != "" {
			t.Errorf("limit %d: warned %q, want nothing", limit, warning)
		}
	}
	warning := openFilesWarning(openFilesWarningBelow - 1)
	if !strings.Contains(warning, "WARNING: open files limit 4095") {
		t.Errorf("limit %d: warned %q, want the limit named", openFilesWarningBelow-1, warning)
	}
}
