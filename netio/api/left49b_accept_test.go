package api

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/acceptretry/acceptretrytest"
)

// TestLeft49bOutOfFileDescriptorsDoesNotStopTheAPI: fasthttp's Serve retries an accept
// error only if it is a timeout, so one EMFILE ended the JSON API for good (the port
// stayed bound, connections waited in its backlog unanswered), as reviewhn49 found on
// the operators' port. The server's listener now waits such errors out
// (netio/acceptretry), and the connection made after the failure is answered.
func TestLeft49bOutOfFileDescriptorsDoesNotStopTheAPI(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := acceptretrytest.NewFileLimitListener(listener)
	keys, _ := testKeys(t)
	server := startServer(t, Config{Listener: limited, Keys: keys},
		heldBackend{status: model.StatusOK})
	conn, err := net.DialTimeout("tcp", server.Address(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Generous: without the fix nothing ever answers, and the read ends here.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte("GET /v1/accounts/1 HTTP/1.1\r\nHost: api\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	response, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after an EMFILE on accept: %v", err)
	}
	_ = response.Body.Close()
	if !limited.Failed() {
		t.Fatal("the listener never failed")
	}
}
