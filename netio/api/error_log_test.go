package api

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"sequent/tools/testlog"
)

// TestMalformedRequestLogsNoHeaders: a request fasthttp cannot parse is answered 400,
// and what fasthttp logs about it (the API passes its lines on at Debug) does not quote
// the request's well-formed headers, which carry signatures and keys
// (SecureErrorLogMessage; the operators' server had it, the API did not). fasthttp still
// quotes the one line it could not parse: a client's own broken bytes.
func TestMalformedRequestLogsNoHeaders(t *testing.T) {
	keys, _ := testKeys(t)
	var log testlog.Buffer
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		&emptyReplyBackend{})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Shutdown(t.Context()) })
	const secret = "signature-secret-5e1d"
	for _, request := range []string{
		"GET /v1/time HTTP/1.1\r\nHost: x\r\nSequent-Signature: " + secret + "\r\nbroken header line\r\n\r\n",
		"GET /v1/time HTTP/1.1\r\nHost: x\r\nSequent-Signature: " + secret + "\r\nContent-Length: -5\r\n\r\n",
		"GET /v1/time HTTP/1.1\r\nHost: x\r\nSequent-Signature: " + secret + "\r\nX: " + strings.Repeat("a", 2*headerBytesMax) + "\r\n\r\n",
	} {
		conn, err := net.DialTimeout("tcp", server.Address(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte(request)); err != nil {
			t.Fatal(err)
		}
		status, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.Contains(status, " 4") {
			t.Errorf("answer %q to a malformed request, want a 4xx", status)
		}
	}
	if strings.Contains(log.String(), secret) {
		t.Fatalf("the log quotes a malformed request's headers:\n%s", log.String())
	}
}
