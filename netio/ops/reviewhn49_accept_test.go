package ops

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"sequent/netio/acceptretry/acceptretrytest"
)

// TestReviewHN49OutOfFileDescriptorsDoesNotStopTheOperatorsPort: fasthttp's Serve retries
// an accept error only if it is a timeout and returns on any other, so one EMFILE (a
// burst of connections to any port of the process, or a log rotation at the limit) ended
// the operators' server for good: the port stayed bound, connections waited in its
// backlog unanswered, /healthz never answered again and Shutdown reported the error. The
// accepting listener (accept.go) now waits and retries on running out of descriptors.
func TestReviewHN49OutOfFileDescriptorsDoesNotStopTheOperatorsPort(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := acceptretrytest.NewFileLimitListener(listener)
	server := startServer(t, Config{Listener: limited, AllowCIDRs: []string{"127.0.0.1/32"}},
		newFakeSources().sources())
	if result := get(t, server, PathHealth); result.code != http.StatusOK {
		t.Fatalf("GET %s after EMFILE: %d %s", PathHealth, result.code, result.body)
	}
	if !limited.Failed() {
		t.Fatal("the listener never failed")
	}
}

// TestReviewHN49DisallowedPeerIsClosedAfterIts403: README and doc.go say a peer outside
// the allow-list is answered 403 and closed. hunt49's tests read the 403 only: with the
// refusal server's DisableKeepalive removed (the mutant), they still passed while every
// such connection stayed open up to idleTimeout, holding one of refusedConnectionsMax.
// The connection must end after the answer.
func TestReviewHN49DisallowedPeerIsClosedAfterIts403(t *testing.T) {
	server := startServer(t, Config{AllowCIDRs: []string{"127.0.0.1/32"}},
		newFakeSources().sources())
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
		Timeout: waitMax}
	conn, err := dialer.Dial("tcp", server.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitMax))
	if _, err := conn.Write([]byte("GET " + PathHealth +
		" HTTP/1.1\r\nHost: ops\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(conn)
	response, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, response.Body)
	_ = response.Body.Close()
	if response.StatusCode != http.StatusForbidden || !response.Close {
		t.Errorf("%d, Connection: close %v; want 403 and close", response.StatusCode,
			response.Close)
	}
	if n, err := reader.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after the 403: read %d bytes, %v; want the connection closed (EOF)", n, err)
	}
}
