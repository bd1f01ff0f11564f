package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sequent/core/node"
	"sequent/netio"
)

// TestServePortCheckBindsAsTheProtocolServer: the check that --addr is free (binds it
// and lets go before anything is created) must bind it as the protocol server does, or
// it refuses starts that work. The protocol server (gnet) binds 0.0.0.0 as IPv4 only and
// [::] as IPv6 only; net.Listen("tcp") binds either wildcard as one socket of both
// families. So with another process holding the same port in the other family only (an
// IPv6-only listener on [::]:P, as nginx's "listen [::]:P" makes, or an IPv4 listener
// on 0.0.0.0:P), the check said "address already in use" for a port the node binds
// without trouble.
func TestServePortCheckBindsAsTheProtocolServer(t *testing.T) {
	for _, test := range []struct{ held, network, served string }{
		{"IPv6 only", "tcp6", "0.0.0.0"},
		{"IPv4", "tcp4", "::"},
	} {
		other, err := net.Listen(test.network, net.JoinHostPort(map[string]string{
			"tcp6": "::", "tcp4": "0.0.0.0"}[test.network], "0"))
		if err != nil {
			t.Skipf("%s: %v (no such family here)", test.held, err)
		}
		port := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)
		address := net.JoinHostPort(test.served, port)
		dir := t.TempDir()
		if _, err := netio.GenerateDevKeys(node.Layout{Dir: dir}.KeysPath()); err != nil {
			t.Fatal(err)
		}
		options := defaultServeOptions()
		options.data, options.address, options.logLevel, options.http = dir, address, "error", ""
		options.accountsCapacity, options.transfersCapacity = 1<<10, 1<<10
		running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
		if err != nil {
			t.Errorf("--addr %s with %s listening on port %s in the other family: %v",
				address, test.held, port, err)
		} else if err := running.stop(); err != nil {
			t.Errorf("--addr %s: stop: %v", address, err)
		}
		other.Close()
	}
}

// TestServeWithOnePortTwiceCreatesNothing: --addr and --replication-listen naming the
// same port is a start that cannot work, found before anything is created, as serve's
// help says of a port already taken. The check bound and released each address in turn,
// so the second found the port free; the start then made the data directory, printed a
// development key and failed after recovery ("netio: listen on ...: address already in
// use").
func TestServeWithOnePortTwiceCreatesNothing(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := free.Addr().String()
	free.Close()
	data := filepath.Join(t.TempDir(), "data")
	output, err := runRootBounded("serve", "--data", data, "--http", "", "--addr", address,
		"--replication-listen", address, "--replication-key", strings.Repeat("k", 32))
	if err == nil || !strings.Contains(err.Error(), "nothing was created") {
		t.Errorf("serve with --addr and --replication-listen %s: error %v, want one saying "+
			"nothing was created", address, err)
	}
	if strings.Contains(output, "DEVELOPMENT key") {
		t.Errorf("printed a development key: %q", output)
	}
	if _, statErr := os.Stat(data); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("left the data directory behind (%v)", statErr)
	}
}
