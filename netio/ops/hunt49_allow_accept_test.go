package ops

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"sequent/tools/testcert"
)

// TestHunt49DisallowedPeersCannotTakeTheOperatorsPort: peers outside the allow-list, from
// as few addresses as the per-address cap lets fill the server's connectionsMax (8 × 8 =
// 64), each send one request and keep their connection open. They are answered 403 and,
// before hunt49, kept their connection alive (keep-alive, up to idleTimeout, 90 s), each
// holding one of fasthttp's connectionsMax slots: the allowed operator's, Prometheus's
// and the load balancer's requests were then answered 503 ("Server.Concurrency limit
// exceeded") by fasthttp, so anyone who could reach the port could blind monitoring
// and fail /readyz. Now a disallowed peer is answered and closed as it is accepted, and
// never holds a slot. Loopback gives the addresses: 127.0.0.2 to 127.0.0.9 all reach
// the server on 127.0.0.1, and only 127.0.0.1 is allowed.
func TestHunt49DisallowedPeersCannotTakeTheOperatorsPort(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{AllowCIDRs: []string{"127.0.0.1/32"}}, fake.sources())
	const addresses = 8
	if addresses*ConnectionsPerAddressMaxDefault < connectionsMax {
		t.Fatalf("%d addresses × %d connections do not reach connectionsMax %d", addresses,
			ConnectionsPerAddressMaxDefault, connectionsMax)
	}
	var held []net.Conn
	t.Cleanup(func() {
		for _, conn := range held {
			_ = conn.Close()
		}
	})
	for a := 0; a < addresses; a++ {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+a))}
		for c := 0; c < ConnectionsPerAddressMaxDefault; c++ {
			dialer := net.Dialer{LocalAddr: local, Timeout: 20 * time.Second}
			conn, err := dialer.Dial("tcp", server.Address())
			if err != nil {
				t.Fatalf("dial from %s: %v", local, err)
			}
			held = append(held, conn)
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := conn.Write([]byte("GET " + PathHealth +
				" HTTP/1.1\r\nHost: ops\r\n\r\n")); err != nil {
				t.Fatalf("write from %s: %v", local, err)
			}
			// The whole answer is read: the server has handled the request, and before
			// the fix its connection then waits for the next one, holding its slot.
			response, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("answer to %s: %v", local, err)
			}
			body := make([]byte, 4096)
			n, _ := response.Body.Read(body)
			_ = response.Body.Close()
			if response.StatusCode != http.StatusForbidden {
				t.Fatalf("%s (connection %d): %d %s, want 403", local, c,
					response.StatusCode, body[:n])
			}
		}
	}
	for i := 0; i < 3; i++ {
		if result := get(t, server, PathHealth); result.code != http.StatusOK {
			t.Fatalf("allowed peer's GET %s (try %d) with %d disallowed connections "+
				"open: %d %s, want 200", PathHealth, i, len(held), result.code,
				strconv.Quote(string(result.body)))
		}
	}
}

// TestHunt49DisallowedPeerOverTLSStillGets403: over TLS the refusal server completes the
// handshake and answers as before (403 address_not_allowed), then closes the connection
// (no keep-alive); an allowed peer is served on the main server.
func TestHunt49DisallowedPeerOverTLSStillGets403(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent ops test CA")
	files := authority.IssueFiles(t)
	server := startServer(t, Config{TLSCertFile: files.Certificate, TLSKeyFile: files.Key,
		AllowCIDRs: []string{"127.0.0.1/32"}}, newFakeSources().sources())
	client := func(local net.IP) *http.Client {
		return &http.Client{Timeout: waitMax, Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}).DialContext,
			TLSClientConfig: &tls.Config{RootCAs: authority.Pool(),
				MinVersion: tls.VersionTLS12}}}
	}
	url := "https://" + server.Address() + PathHealth
	refused := call(t, client(net.IPv4(127, 0, 0, 2)), http.MethodGet, url, "", nil, nil)
	if reply := refused.reply(t); refused.code != http.StatusForbidden ||
		reply.Code != CodeAddressNotAllowed {
		t.Errorf("disallowed peer over TLS: %d %s", refused.code, refused.body)
	}
	if served := call(t, client(net.IPv4(127, 0, 0, 1)), http.MethodGet, url, "", nil,
		nil); served.code != http.StatusOK {
		t.Errorf("allowed peer over TLS: %d %s", served.code, served.body)
	}
}
