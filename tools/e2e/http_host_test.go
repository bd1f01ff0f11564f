package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeHTTPHostFlag: `sequent serve --http-host` reaches the operators' port. With
// two names given (one flag, comma-separated, in mixed case), a request naming either
// one, the IP address or localhost is served; one naming another host (a DNS-rebinding
// page's) is answered 421 with an error that names the flag.
func TestServeHTTPHostFlag(t *testing.T) {
	httpAddress := freePort(t)
	startServer(t, t.TempDir(), freePort(t), "--http", httpAddress,
		"--http-host", "Node1.Example,sequent-b")
	ask := func(host string) (int, string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", httpAddress, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte("GET /v1/status HTTP/1.1\r\nHost: " + host +
			"\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		response, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("Host %s: %v", host, err)
		}
		defer response.Body.Close()
		body, _ := io.ReadAll(response.Body)
		return response.StatusCode, string(body)
	}
	for _, host := range []string{httpAddress, "localhost:7401", "node1.example:7401",
		"SEQUENT-B"} {
		if code, body := ask(host); code != http.StatusOK {
			t.Errorf("Host %s: %d %s, want 200", host, code, body)
		}
	}
	code, body := ask("attacker.example:7401")
	if code != http.StatusMisdirectedRequest || !strings.Contains(body, `"host_not_allowed"`) ||
		!strings.Contains(body, "--http-host") {
		t.Errorf("Host attacker.example:7401: %d %s, want 421 host_not_allowed naming --http-host",
			code, body)
	}
}
