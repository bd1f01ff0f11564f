package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"sequent/netio"
)

// TestReviewHO49WaitingStandbyAnswersItsHostNames: a standby waiting for its primary at
// start serves the operators' port from a server of its own (startWaitingOps), which
// must take --http-host like the full one: Prometheus or a load balancer that reaches
// the node by a listed name would otherwise see 421 (SequentDown, a failed probe) for as
// long as the standby waits. Nothing pinned it: dropping Hosts from that server passed
// every test of the package and the e2e one (which starts a primary).
func TestReviewHO49WaitingStandbyAnswersItsHostNames(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	keyring, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion})
	if err != nil {
		t.Fatal(err)
	}
	o := &serveOptions{standbyOf: "127.0.0.1:1", httpListener: listener,
		http: listener.Addr().String(), data: t.TempDir(),
		httpHost: []string{"sequent-b.internal"}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	waiting := startWaitingOps(o, keyring, logger)
	if waiting == nil {
		t.Fatal("no waiting server")
	}
	defer waiting.stop(logger)
	ask := func(host string) int {
		t.Helper()
		conn, err := net.DialTimeout("tcp", listener.Addr().String(), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + host +
			"\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		response, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("Host %s: %v", host, err)
		}
		_ = response.Body.Close()
		return response.StatusCode
	}
	if code := ask("sequent-b.internal:7401"); code != http.StatusOK {
		t.Errorf("waiting standby, GET /healthz with Host sequent-b.internal:7401 (listed "+
			"with --http-host): %d, want 200", code)
	}
	if code := ask("attacker.example:7401"); code != http.StatusMisdirectedRequest {
		t.Errorf("waiting standby, GET /healthz with Host attacker.example:7401: %d, want 421",
			code)
	}
}
