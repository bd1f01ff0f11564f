package api

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestOnePeerCannotTakeEveryConnection: one peer address that opens as many connections
// as the server serves at once (connectionsMax) and leaves them idle holds at most its
// share of them, so another address's request is still served. The peer needs no
// credentials: the connections are simply open (a request to a public route every idle
// timeout keeps them so). Before the fix it held them all and every other client's
// request was refused until its connections timed out, which it could renew at will.
//
// Method: the idle peer is 127.0.0.1, the integrator 127.0.0.2; the integrator asks
// GET /v1/time (a public route) once all of the peer's connections are established.
func TestOnePeerCannotTakeEveryConnection(t *testing.T) {
	h := newHarness(t)
	for range connectionsMax {
		conn, err := net.DialTimeout("tcp", h.server.Address(), waitMax)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
	}
	integrator := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	t.Cleanup(integrator.CloseIdleConnections)
	answer, err := integrator.Get(h.base + "/v1/time")
	if err != nil {
		t.Fatalf("the integrator's request with the peer's %d connections open: %v",
			connectionsMax, err)
	}
	answer.Body.Close()
	if answer.StatusCode != http.StatusOK {
		t.Fatalf("the integrator's request with the peer's %d connections open: HTTP %d",
			connectionsMax, answer.StatusCode)
	}
}
