//go:build unix

package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveWithListeners runs serve (refused: bounded) with the four listen flags set from
// addresses ("" off, as --http and --api take it; --addr defaults to a port the system
// picks), and checks that nothing was created: no data directory, no development key.
func serveWithListeners(t *testing.T, addresses map[string]string) error {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"serve", "--data", data}
	for _, flag := range []string{"--addr", "--replication-listen", "--http", "--api"} {
		address, given := addresses[flag]
		switch {
		case given:
		case flag == "--addr":
			address = "127.0.0.1:0"
		case flag == "--replication-listen":
			continue
		}
		args = append(args, flag, address)
	}
	if addresses["--replication-listen"] != "" {
		args = append(args, "--replication-key", strings.Repeat("k", 32))
	}
	output, err := runRootBounded(args...)
	if strings.Contains(output, "DEVELOPMENT key") {
		t.Errorf("%v: printed a development key: %q", args, output)
	}
	if _, statErr := os.Stat(data); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("%v: left the data directory behind (%v)", args, statErr)
	}
	return err
}

// TestServePortCheckCoversEveryListener: serve's free-port check covered --addr and
// --replication-listen only; --http and --api were listened on before it, unchecked. A
// taken --http or --api said "ops: listen" or "api: listen" without naming the flag or
// saying that nothing was created, and --http or --api naming another flag's port said
// that port was in use (by serve itself) rather than that one port was given twice. Now
// every listener's address is checked, bound without listening, before any is listened
// on: each such start is refused naming the flag (or both flags), with nothing created,
// and a dial to --http's port while the check holds it is refused, not accepted.
func TestServePortCheckCoversEveryListener(t *testing.T) {
	port := strconv.Itoa(freeLoopbackPort(t))
	address := "127.0.0.1:" + port
	for _, pair := range [][2]string{{"--addr", "--http"}, {"--addr", "--api"},
		{"--replication-listen", "--http"}, {"--replication-listen", "--api"},
		{"--http", "--api"}} {
		err := serveWithListeners(t, map[string]string{pair[0]: address, pair[1]: address})
		want := pair[0] + " " + address + " and " + pair[1] + " " + address + ": one port twice"
		if err == nil || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "nothing was created") {
			t.Errorf("%s and %s both %s: error %v, want one saying %q and that nothing "+
				"was created", pair[0], pair[1], address, err, want)
		}
	}

	other, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	taken := other.Addr().String()
	for _, flag := range []string{"--http", "--api"} {
		err := serveWithListeners(t, map[string]string{flag: taken})
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) ||
			!strings.Contains(err.Error(), flag+" "+taken+": cannot listen (nothing was created)") {
			t.Errorf("%s %s, listened on by another process: error %v, want address "+
				"already in use naming the flag and that nothing was created", flag, taken, err)
		}
	}

	var checked []string
	portCheckBoundHook = func(flag listenFlag) {
		checked = append(checked, flag.name)
		if flag.name != "--http" {
			return
		}
		conn, err := net.DialTimeout("tcp4", flag.address, 30*time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("--http %s: a dial during the port check was accepted, want refused",
				flag.address)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("--http %s: a dial during the port check: %v, want connection refused",
				flag.address, err)
		}
	}
	defer func() { portCheckBoundHook = nil }()
	err = serveWithListeners(t, map[string]string{"--http": address, "--api": taken})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("--api %s taken: error %v, want address already in use", taken, err)
	}
	if strings.Join(checked, " ") != "--addr --http" { // --api's bind failed.
		t.Errorf("the check bound %v, want --addr and --http in turn", checked)
	}
}
