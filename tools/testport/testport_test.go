package testport

import (
	"net"
	"strconv"
	"testing"
)

// Addresses are loopback addresses, distinct within a process, free when handed out, and
// (when the machine leaves room below its ephemeral range) outside that range.
func TestAddressesAreDistinctFreeAndBelowTheEphemeralRange(t *testing.T) {
	low, high := fixedPortRange()
	seen := map[string]bool{}
	for range 200 {
		address := Address(t)
		if seen[address] {
			t.Fatalf("%s handed out twice", address)
		}
		seen[address] = true
		host, portText, err := net.SplitHostPort(address)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q: %v", address, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			t.Fatal(err)
		}
		if high > low && (port < low || port >= high) {
			t.Fatalf("port %d outside [%d, %d), the range below the ephemeral ports", port, low, high)
		}
		listener, err := net.Listen("tcp", address)
		if err != nil {
			t.Fatalf("%s not free when handed out: %v", address, err)
		}
		listener.Close()
	}
}

// A port something listens on is skipped.
func TestAPortInUseIsSkipped(t *testing.T) {
	first := Address(t)
	listener, err := net.Listen("tcp", first)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	ports.mutex.Lock()
	low, high := ports.low, ports.high
	_, portText, _ := net.SplitHostPort(first)
	port, _ := strconv.Atoi(portText)
	ports.next = port // The sequence comes round to the taken port next.
	ports.mutex.Unlock()
	if high <= low {
		t.Skip("no room below the ephemeral range on this machine")
	}
	if next := Address(t); next == first {
		t.Fatalf("%s handed out while something listens on it", next)
	}
}
