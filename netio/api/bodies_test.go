package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOnePeerCannotTakeTheBodyBudget: one peer address that announces maximal bodies on
// many connections and sends them slowly (here: 64 KiB of each, then nothing) holds at most
// its share of the server's budget of body bytes, so another address's signed request
// with a body is still served. The peer needs no secret, only a client's ids and a
// timestamp in the window (headers that fail are refused before the body is read:
// TestHeaderRefusalsComeBeforeTheBody): bodies are read before the signature over them
// can be checked. Before the fix sixteen such connections held the
// whole 64 MiB budget (for as long as the read timeout let each wait, and again after
// reconnecting), and every request with a body from anyone was refused 503 busy.
//
// Method: the slow peer is 127.0.0.1, the integrator 127.0.0.2. The integrator's lookup
// is sent again and again until the peer's connections beyond its share have been
// refused (each such connection gets a 503 while the others wait for their bodies);
// every lookup must be served, none refused busy.
func TestOnePeerCannotTakeTheBodyBudget(t *testing.T) {
	h := newHarness(t)
	const connections = bodyBytesInFlightMax / requestBodyBytesMax
	var refused atomic.Int32
	for range connections {
		conn, err := net.DialTimeout("tcp", h.server.Address(), waitMax)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := conn.SetDeadline(time.Now().Add(waitMax)); err != nil {
			t.Fatal(err)
		}
		// The first 64 KiB of the body: more than fasthttp reads ahead before it runs the
		// handler, which then waits for the rest.
		head := fmt.Sprintf("POST /v1/transfers HTTP/1.1\r\nHost: test\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s",
			requestBodyBytesMax, authenticationLines(t, h, "POST", "/v1/transfers"),
			strings.Repeat(" ", 64<<10))
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		go func() {
			answer, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err == nil && answer.StatusCode == http.StatusServiceUnavailable {
				refused.Add(1)
			}
		}()
	}
	integrator := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	t.Cleanup(integrator.CloseIdleConnections)
	signer := h.signer(readerClient)
	lookup := func() int {
		body := `{"ids":["1"]}`
		request, err := http.NewRequest(http.MethodPost, h.base+"/v1/accounts/lookup",
			strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		request.Header.Set("Content-Type", "application/json")
		if err := signer.Sign(request.Header, http.MethodPost, "/v1/accounts/lookup",
			[]byte(body)); err != nil {
			t.Fatal(err)
		}
		answer, err := integrator.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		answer.Body.Close()
		return answer.StatusCode
	}
	share := int32(bodyBytesPerPeerMax / requestBodyBytesMax)
	deadline := time.Now().Add(waitMax) // A hang guard, not a timing assertion.
	for {
		done := refused.Load() == connections-share
		if code := lookup(); code != http.StatusOK {
			t.Fatalf("the integrator's lookup with %d of the peer's %d connections refused: "+
				"HTTP %d", refused.Load(), connections, code)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %d of the peer's connections refused", refused.Load())
		}
	}
}
