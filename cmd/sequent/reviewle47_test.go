package main

import (
	"context"
	"io"
	"net"
	"strconv"
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
