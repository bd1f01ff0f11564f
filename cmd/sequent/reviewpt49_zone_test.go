//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
)

// TestReviewpt49NumericZoneAddrStartsOrCreatesNothing: the port check binds --addr with
// Go's net, which reads an IPv6 zone given as a number ("%2") as that interface; the
// protocol server (gnet) reads a zone only as an interface's name and binds a numeric
// one with no scope, which the system refuses for a link-local address (EINVAL). So
// --addr [fe80::…%2]:P passed the check and the start failed after recovery, its data
// directory made. Either the node starts or the check refuses it before anything is
// created. Skipped where no interface has a link-local IPv6 address.
func TestReviewpt49NumericZoneAddrStartsOrCreatesNothing(t *testing.T) {
	linkLocal, _, index, ok := reviewpt49LinkLocal()
	if !ok {
		t.Skip("no link-local IPv6 address here")
	}
	address := net.JoinHostPort(linkLocal+"%"+strconv.Itoa(index), "0")
	if listener, err := net.Listen("tcp", address); err != nil {
		t.Skipf("%s does not bind here: %v", address, err)
	} else {
		listener.Close()
	}
	dir := t.TempDir() + "/data"
	options := defaultServeOptions()
	options.data, options.address, options.logLevel, options.http = dir, address, "error", ""
	options.accountsCapacity, options.transfersCapacity = 1<<10, 1<<10
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err == nil {
		if err := running.stop(); err != nil {
			t.Errorf("--addr %s: stop: %v", address, err)
		}
		return
	}
	if _, statErr := os.Stat(dir); statErr == nil {
		t.Errorf("--addr %s: the start failed after the port check passed, its data "+
			"directory made: %v", address, err)
	}
}

// TestZoneByName: a numeric zone becomes its interface's name, an index that names no
// interface is a usage error, and any other address is left as given.
func TestZoneByName(t *testing.T) {
	loopback, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no interface named lo: %v", err)
	}
	numeric := "[fe80::1%" + strconv.Itoa(loopback.Index) + "]:7400"
	if got, err := zoneByName(numeric); err != nil || got != "[fe80::1%lo]:7400" {
		t.Errorf("zoneByName(%s) = %q, %v; want [fe80::1%%lo]:7400", numeric, got, err)
	}
	for _, address := range []string{"127.0.0.1:7400", "[::1]:7400", "[fe80::1%lo]:7400",
		":7400", "no port"} {
		if got, err := zoneByName(address); err != nil || got != address {
			t.Errorf("zoneByName(%s) = %q, %v; want it unchanged", address, got, err)
		}
	}
	if _, err := zoneByName("[fe80::1%999999]:7400"); err == nil {
		t.Error("zone 999999 names no interface, yet no error")
	}
}
