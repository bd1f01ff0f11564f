package ops

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHunt49DNSRebindingIsRefused (hunt49; fixed by the Host check, Config.Hosts and
// serve --http-host: see host_test.go for the names accepted): the console and the read
// endpoints need no token, and the allow-list is their only guard (README: "allow only
// operators' networks: it shows order book depth"). But the operator's own browser is on
// an allowed network: a page from attacker.example whose DNS name is then re-pointed at
// the node's address (DNS rebinding) makes same-origin requests to the operators' port,
// from an allowed address, with "Host: attacker.example:7401", and reads /v1/status and
// /v1/depth (and would read anything else the port serves without a token). The server
// did not look at the Host header. Decided: accept only IP literals, localhost and the
// names the operator lists (--http-host), answering others 421 host_not_allowed.
func TestHunt49DNSRebindingIsRefused(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{AllowCIDRs: []string{"127.0.0.0/8"}}, fake.sources())
	ask := func(path, host string) int {
		conn, err := net.DialTimeout("tcp", server.Address(), waitMax)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(waitMax))
		if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
			"\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		response, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = response.Body.Close()
		return response.StatusCode
	}
	if code := ask(PathStatus, server.Address()); code != http.StatusOK {
		t.Fatalf("GET %s with Host %s: %d, want 200", PathStatus, server.Address(), code)
	}
	for _, path := range []string{PathStatus, PathConsole} {
		if code := ask(path, "attacker.example:7401"); code == http.StatusOK {
			t.Errorf("GET %s with Host attacker.example:7401 (a rebound name) from an "+
				"allowed address: 200; want it refused", path)
		}
	}
}
