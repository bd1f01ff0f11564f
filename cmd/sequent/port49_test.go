//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeLoopbackPort returns a port no one listens on at 127.0.0.1 (as far as the system
// says now).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

// TestServePortCheckRefusesConnections: serve's check that its ports are free listened
// on them for a moment (net.Listen), and a connection made in that moment was accepted
// by the system and then reset: CI's e2e harness took such a node for started. The check
// now binds without listening, so a dial made while the check holds the port is refused,
// as it is before and after the check. The dial is made from the hook the check calls
// while the address is bound, so no timing decides the outcome.
func TestServePortCheckRefusesConnections(t *testing.T) {
	protocolPort, replicationPort := freeLoopbackPort(t), freeLoopbackPort(t)
	flags := []listenFlag{
		{"--addr", fmt.Sprintf("127.0.0.1:%d", protocolPort), "tcp4"},
		{"--replication-listen", fmt.Sprintf("0.0.0.0:%d", replicationPort), "tcp"},
	}
	var checked []string
	portCheckBoundHook = func(flag listenFlag) {
		_, port, _ := net.SplitHostPort(flag.address)
		conn, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", port), 30*time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("%s %s: a dial during the port check was accepted, want refused",
				flag.name, flag.address)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s %s: a dial during the port check: %v, want connection refused",
				flag.name, flag.address, err)
		}
		checked = append(checked, flag.name)
	}
	defer func() { portCheckBoundHook = nil }()
	if err := checkListenAddressesFree(flags...); err != nil {
		t.Fatal(err)
	}
	if len(checked) != len(flags) {
		t.Errorf("the check bound %v, want every flag of %v", checked, flags)
	}
}

// TestServePortCheckRefusesAPortInUse: an address another process listens on is still
// refused (a bound socket that does not listen conflicts with a listening one even with
// SO_REUSEADDR), whether the flag names the same address, the wildcard of its family, or
// the wildcard of both.
func TestServePortCheckRefusesAPortInUse(t *testing.T) {
	other, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)
	for _, flag := range []listenFlag{
		{"--addr", "127.0.0.1:" + port, "tcp4"},
		{"--addr", "0.0.0.0:" + port, "tcp4"},
		{"--replication-listen", ":" + port, "tcp"},
	} {
		err := checkListenAddressesFree(flag)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) ||
			!strings.Contains(err.Error(), flag.name+" "+flag.address+": cannot listen (nothing was created)") {
			t.Errorf("%s %s (%s) with 127.0.0.1:%s listened on: error %v, want address "+
				"already in use naming the flag", flag.name, flag.address, flag.network, port, err)
		}
	}
}

// TestServePortCheckRefusesOnePortTwice: two flags naming one port are refused with an
// error naming both. The check binds with SO_REUSEADDR, and two such sockets that do not
// listen do not conflict, so only the comparison of the addresses finds it.
func TestServePortCheckRefusesOnePortTwice(t *testing.T) {
	port := strconv.Itoa(freeLoopbackPort(t))
	for _, replication := range []string{"127.0.0.1:" + port, ":" + port, "0.0.0.0:" + port} {
		protocol := listenFlag{"--addr", "127.0.0.1:" + port, "tcp4"}
		err := checkListenAddressesFree(protocol,
			listenFlag{"--replication-listen", replication, "tcp"})
		want := "--addr 127.0.0.1:" + port + " and --replication-listen " + replication +
			": one port twice"
		if err == nil || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "nothing was created") {
			t.Errorf("--addr %s and --replication-listen %s: error %v, want one saying %q "+
				"and that nothing was created", protocol.address, replication, err, want)
		}
	}
}

// TestPortCheckOverlapMatchesTheSystem: listenAddressesOverlap says two flags take one
// port exactly when the second of two real listeners on them fails to bind.
func TestPortCheckOverlapMatchesTheSystem(t *testing.T) {
	for _, test := range []struct{ firstNetwork, firstHost, secondNetwork, secondHost string }{
		{"tcp4", "127.0.0.1", "tcp", "127.0.0.1"},
		{"tcp4", "0.0.0.0", "tcp", "127.0.0.1"},
		{"tcp", "", "tcp4", "127.0.0.1"},
		{"tcp", "localhost", "tcp4", "127.0.0.1"},
		{"tcp4", "127.0.0.1", "tcp", "127.0.0.2"},
		{"tcp6", "::", "tcp4", "0.0.0.0"},
		{"tcp6", "::", "tcp", "0.0.0.0"},
		{"tcp4", "0.0.0.0", "tcp", "::"},
		{"tcp6", "::1", "tcp4", "127.0.0.1"},
		{"tcp6", "::", "tcp4", "127.0.0.1"},
		{"tcp4", "0.0.0.0", "tcp", "::1"},
		{"tcp6", "::1", "tcp", "::"},
	} {
		port := strconv.Itoa(freeLoopbackPort(t))
		first := listenFlag{"--addr", net.JoinHostPort(test.firstHost, port), test.firstNetwork}
		second := listenFlag{"--replication-listen", net.JoinHostPort(test.secondHost, port),
			test.secondNetwork}
		name := fmt.Sprintf("%s %s then %s %s", first.network, first.address, second.network,
			second.address)
		// Each alone must bind, or the pair says nothing (no IPv6 here, no 127.0.0.2).
		alone := true
		for _, flag := range []listenFlag{first, second} {
			listener, err := net.Listen(flag.network, flag.address)
			if err != nil {
				t.Logf("%s: %s alone: %v (pair left out)", name, flag.address, err)
				alone = false
				continue
			}
			listener.Close()
		}
		if !alone {
			continue
		}
		firstListener, err := net.Listen(first.network, first.address)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		secondListener, err := net.Listen(second.network, second.address)
		systemConflict := err != nil
		if err == nil {
			secondListener.Close()
		}
		firstListener.Close()
		if overlap := listenAddressesOverlap(first, second); overlap != systemConflict {
			t.Errorf("%s: listenAddressesOverlap %v, the system's second bind failed: %v (%v)",
				name, overlap, systemConflict, err)
		}
	}
}

// TestServePortCheckAcceptsTimeWait: a port with a connection in TIME_WAIT (one the
// node's last run closed) binds for a listener with SO_REUSEADDR, as the real ones set,
// and the check must pass it too: a check socket without SO_REUSEADDR would refuse it.
// The test makes such a connection (the server's end closes first, so that end waits),
// sees it in /proc/net/tcp, and shows a bind without SO_REUSEADDR fails there.
func TestServePortCheckAcceptsTimeWait(t *testing.T) {
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp4", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	listener.Close()
	server.Close() // The server's end closes first: it is the one left in TIME_WAIT.
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("client read after the server closed: %v, want EOF", err)
	}
	client.Close()
	waiting := false
	for attempt := 0; attempt < timeWaitLooks && !waiting; attempt++ {
		if waiting = loopbackPortInTimeWait(t, port); !waiting {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !waiting {
		t.Skipf("no TIME_WAIT connection on 127.0.0.1:%d seen in /proc/net/tcp", port)
	}
	if err := bindWithoutReuse(port); !errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("a bind without SO_REUSEADDR on a port in TIME_WAIT: %v, want address "+
			"already in use (this system does not refuse it: nothing to show)", err)
	}
	address := fmt.Sprintf("127.0.0.1:%d", port)
	if err := checkListenAddressesFree(listenFlag{"--addr", address, "tcp4"}); err != nil {
		t.Errorf("the port check refused %s with a connection in TIME_WAIT: %v", address, err)
	}
}

// timeWaitLooks bounds how many times TestServePortCheckAcceptsTimeWait reads
// /proc/net/tcp for its connection's TIME_WAIT.
const timeWaitLooks = 500

// loopbackPortInTimeWait reports whether /proc/net/tcp lists a connection of local
// address 127.0.0.1:port in TIME_WAIT (state 06).
func loopbackPortInTimeWait(t *testing.T, port int) bool {
	t.Helper()
	file, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer file.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 3 && fields[1] == local && fields[3] == "06" {
			return true
		}
	}
	return false
}

// bindWithoutReuse binds 127.0.0.1:port on a socket without SO_REUSEADDR and closes it.
func bindWithoutReuse(port int) error {
	socket, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(socket)
	return syscall.Bind(socket, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
}
