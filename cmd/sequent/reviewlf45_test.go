package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"sequent/netio"
)

// TestReviewLF45WaitingOpsStoppedAtOnceLeavesNoServer: when the standby's wait ends at
// once (replication.OpenNode returning before the waiting server's Serve goroutine has
// run), stop must still leave nothing serving on the lent listener, which the full
// server then accepts on. fasthttp's Shutdown returns at once when Serve has not yet
// registered its listener, and Serve, starting afterwards, accepted on the port for
// ever: two servers on one port, the stale one answering waiting_for_primary and
// refusing promote (409) after the node had started. One processor makes the
// interleaving certain (the new goroutine runs only when stop blocks).
func TestReviewLF45WaitingOpsStoppedAtOnceLeavesNoServer(t *testing.T) {
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
		http: listener.Addr().String(), data: t.TempDir()}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	processors := runtime.GOMAXPROCS(1)
	waiting := startWaitingOps(o, keyring, logger)
	if waiting == nil {
		runtime.GOMAXPROCS(processors)
		t.Fatal("no waiting server")
	}
	waiting.stop(logger) // The wait ended at once.
	runtime.GOMAXPROCS(processors)

	buffer := make([]byte, 1<<20)
	if stacks := string(buffer[:runtime.Stack(buffer, true)]); !strings.Contains(stacks,
		"fasthttp.(*Server).Serve(") {
		return
	}
	// Show what the stale server does with a request meant for the full server.
	conn, err := net.DialTimeout("tcp", listener.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	answer := "nothing"
	if response, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		body, _ := io.ReadAll(response.Body)
		answer = response.Status + " " + string(body)
	}
	t.Fatalf("the waiting server still accepts on the port given back to the full server; "+
		"it answered /v1/status with %s", answer)
}

// TestReviewLF45WaitingStandbyRefusesEveryAdminAction: README says a standby waiting for
// its primary refuses admin actions with 409 until it has started; log-level was answered
// 501 not_implemented ("this node does not offer log-level"), which tells an operator
// that the build lacks the action rather than that the node is still starting.
func TestReviewLF45WaitingStandbyRefusesEveryAdminAction(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	token := strings.Repeat("ab", 32)
	keyring, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		AdminTokens: []netio.KeysFileAdminToken{{Name: "ops", Token: token}}})
	if err != nil {
		t.Fatal(err)
	}
	o := &serveOptions{standbyOf: "127.0.0.1:1", httpListener: listener,
		http: listener.Addr().String(), data: t.TempDir()}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	waiting := startWaitingOps(o, keyring, logger)
	if waiting == nil {
		t.Fatal("no waiting server")
	}
	defer waiting.stop(logger)
	client := &http.Client{Timeout: 30 * time.Second}
	for _, path := range []string{"/v1/admin/promote", "/v1/admin/snapshot",
		"/v1/admin/reload-keys", "/v1/admin/log-level?level=debug"} {
		request, err := http.NewRequest("POST", "http://"+listener.Addr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		request.Header.Set("Authorization", "Bearer "+token)
		answer, err := client.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(answer.Body)
		answer.Body.Close()
		if answer.StatusCode != http.StatusConflict {
			t.Errorf("%s while waiting: HTTP %d %s, want 409", path, answer.StatusCode, body)
		}
	}
}
