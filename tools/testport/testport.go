package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Address returns "127.0.0.1:port" with a port nothing listens on now (see the package
// comment for why not one from a listen on :0).
func Address(t testing.TB) string {
	t.Helper()
	ports.mutex.Lock()
	defer ports.mutex.Unlock()
	if ports.low == 0 {
		ports.low, ports.high = fixedPortRange()
		if ports.high > ports.low {
			ports.next = ports.low + rand.IntN(ports.high-ports.low)
		}
	}
	for tried := 0; tried < ports.high-ports.low; tried++ {
		port := ports.next
		if ports.next++; ports.next >= ports.high {
			ports.next = ports.low
		}
		address := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if listener, err := net.Listen("tcp", address); err == nil {
			listener.Close()
			return address
		}
	}
	// No room below the ephemeral range (it starts low on this machine): a port the
	// kernel picks.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

// ports is Address's sequence: ports in [low, high), next to try.
var ports struct {
	mutex           sync.Mutex
	low, high, next int
}

// fixedPortRange returns up to 20,000 ports just below the kernel's ephemeral range
// (Linux's ip_local_port_range; elsewhere IANA's 49152-65535), above the privileged
// ports.
func fixedPortRange() (low, high int) {
	high = 49152
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if first, err := strconv.Atoi(fields[0]); err == nil {
				high = first
			}
		}
	}
	return max(high-20000, 1024), max(high, 1024)
}
