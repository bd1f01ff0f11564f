package ops

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/tools/testcert"
)

// TestRequestsPerAddressAreLimited: one address gets two seconds' worth of its rate at
// once, then 429 rate_limited with Retry-After (the operators' port used to serve a
// flood without limit), and its budget refills with time. The clock is the test's.
func TestRequestsPerAddressAreLimited(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	burst := RequestsPerSecondPerAddressDefault * requestBurstSeconds
	for i := range burst {
		if result := get(t, server, PathHealth); result.code != http.StatusOK {
			t.Fatalf("request %d of the burst: %d %s", i+1, result.code, result.body)
		}
	}
	refused := get(t, server, PathReady)
	if refused.code != http.StatusTooManyRequests || refused.reply(t).Code != CodeRateLimited ||
		refused.header.Get("Retry-After") != retryAfterSeconds {
		t.Fatalf("past the burst: %d %v %s", refused.code, refused.header, refused.body)
	}
	clock.advance(time.Second)
	for i := range RequestsPerSecondPerAddressDefault {
		if result := get(t, server, PathStatus); result.code != http.StatusOK {
			t.Fatalf("request %d after a second: %d", i+1, result.code)
		}
	}
	if result := get(t, server, PathMetrics); result.code != http.StatusTooManyRequests {
		t.Fatalf("past a second's refill: %d", result.code)
	}
}

// TestAddressLimiterIsBounded: the limiter tracks at most limitedAddressesMax addresses;
// when full it forgets the quiet ones, and refuses a new address only if none is.
func TestAddressLimiterIsBounded(t *testing.T) {
	limiter := newAddressLimiter(10)
	now := time.Unix(1_000_000, 0)
	address := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for i := range limitedAddressesMax {
		if !limiter.allow(address(i), now) {
			t.Fatalf("address %d refused before the map was full", i)
		}
	}
	if limiter.allow(address(limitedAddressesMax), now) {
		t.Fatal("a new address was tracked beyond limitedAddressesMax while all were active")
	}
	later := now.Add(requestBurstSeconds * time.Second)
	if !limiter.allow(address(limitedAddressesMax), later) || len(limiter.buckets) != 1 {
		t.Fatalf("quiet addresses not forgotten: %d tracked", len(limiter.buckets))
	}
}

// TestMetricsRenderedOncePerInterval: a flood of scrapes costs one render per interval
// (one Snapshot call), not one per scrape.
func TestMetricsRenderedOncePerInterval(t *testing.T) {
	fake := newFakeSources()
	var snapshots atomic.Int64
	sources := fake.sources()
	inner := sources.Snapshot
	sources.Snapshot = func() Snapshot { snapshots.Add(1); return inner() }
	server := startServer(t, Config{RequestsPerSecondPerAddress: -1}, sources)
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	for range 30 {
		if result := get(t, server, PathMetrics); result.code != http.StatusOK {
			t.Fatalf("/metrics: %d", result.code)
		}
	}
	if got := snapshots.Load(); got != 1 {
		t.Fatalf("30 scrapes within the interval rendered %d times, want 1", got)
	}
	clock.advance(MetricsCacheIntervalDefault)
	get(t, server, PathMetrics)
	if got := snapshots.Load(); got != 2 {
		t.Fatalf("a scrape after the interval: %d renders in all, want 2", got)
	}
}

// TestConnectionsPerAddressAreLimited: one address may hold ConnectionsPerAddressMax
// connections; the next one is answered 429 and closed.
func TestConnectionsPerAddressAreLimited(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{ConnectionsPerAddressMax: 3, RequestsPerSecondPerAddress: -1},
		fake.sources())
	open := func() (net.Conn, *http.Response) {
		conn, err := net.DialTimeout("tcp", server.Address(), waitMax)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(waitMax))
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
			return conn, nil
		}
		response, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return conn, nil
		}
		response.Body.Close()
		return conn, response
	}
	for i := range 3 {
		if _, response := open(); response == nil || response.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %+v", i+1, response)
		}
	}
	if _, response := open(); response == nil || response.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection 4: %+v, want 429", response)
	}
}

// TestAddressLimiterCountsAnIPv6NetworkAsOneAddress: one IPv6 host commonly owns a whole
// /64 and may pick any source address in it. Counted per address, it got a fresh burst
// with each one (no limit at all), and a few thousand of them filled the limiter's
// table, so that every new address, an operator's or a scraper's, was refused. An IPv6
// /64 shares one budget; IPv4 addresses, mapped or not, keep their own.
func TestAddressLimiterCountsAnIPv6NetworkAsOneAddress(t *testing.T) {
	limiter := newAddressLimiter(1)
	now := time.Unix(1_000_000, 0)
	burst := requestBurstSeconds
	host := netip.MustParseAddr("2001:db8:1:2::")
	for i := range burst + 1 {
		next := host.As16()
		next[15] = byte(i + 1) // A new source address in the same /64 each time.
		allowed := limiter.allow(netip.AddrFrom16(next), now)
		if i < burst && !allowed {
			t.Fatalf("request %d of the /64's burst refused", i+1)
		}
		if i == burst && allowed {
			t.Fatalf("a /64 got more than its burst of %d by changing its source address", burst)
		}
	}
	if !limiter.allow(netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Fatal("another /64 shared the first one's budget")
	}
	v4 := netip.MustParseAddr("192.0.2.1")
	for range burst {
		limiter.allow(v4, now)
	}
	if !limiter.allow(netip.MustParseAddr("192.0.2.2"), now) {
		t.Fatal("IPv4 neighbours shared a budget")
	}
	if limiter.allow(netip.AddrFrom16(v4.As16()), now) {
		t.Fatal("an IPv4 address seen mapped into IPv6 got a second budget")
	}
}

// TestConnectionsPerAddressCountAnIPv6NetworkAsOneAddress: the connection cap counts
// an IPv6 peer per /64, as the rate limiter does (and the binary port and the HTTP API).
// Counted per /128, a host that owns a /64 held the cap's worth of connections from
// every one of its addresses: no cap at all. The connections come from a listener
// whose connections claim IPv6 peers in one /64 (the tests only dial 127.0.0.1); past the
// cap the next is answered 429 and closed, and a peer in another /64 is still served.
func TestConnectionsPerAddressCountAnIPv6NetworkAsOneAddress(t *testing.T) {
	listener := newPipeListener()
	fake := newFakeSources()
	startServer(t, Config{ConnectionsPerAddressMax: 3, RequestsPerSecondPerAddress: -1,
		Listener: listener}, fake.sources())
	peer := func(last byte) netip.Addr {
		address := netip.MustParseAddr("2001:db8:1:2::").As16()
		address[15] = last // A new source address in the same /64 each time.
		return netip.AddrFrom16(address)
	}
	for i := range 3 {
		if response := listener.get(t, peer(byte(i+1))); response == nil ||
			response.StatusCode != http.StatusOK {
			t.Fatalf("connection %d from the /64: %+v", i+1, response)
		}
	}
	if response := listener.get(t, peer(9)); response == nil ||
		response.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection 4 from the /64 (another address in it): %+v, want 429", response)
	}
	if response := listener.get(t, netip.MustParseAddr("2001:db8:1:3::1")); response == nil ||
		response.StatusCode != http.StatusOK {
		t.Fatalf("a connection from another /64: %+v", response)
	}
}

// pipeListener hands the server in-memory connections that claim a chosen peer address.
type pipeListener struct {
	accepted chan net.Conn
	closed   chan struct{}
	once     sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{accepted: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.accepted:
		return conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// get opens a connection from peer, sends GET /healthz on it and returns the answer (nil
// if the connection was closed without one). The connection stays open until the test
// ends.
func (l *pipeListener) get(t *testing.T, peer netip.Addr) *http.Response {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { client.Close() })
	client.SetDeadline(time.Now().Add(waitMax))
	select {
	case l.accepted <- &peerPipe{Conn: server, remote: net.TCPAddrFromAddrPort(
		netip.AddrPortFrom(peer, 40000))}:
	case <-time.After(waitMax):
		t.Fatal("the server did not accept")
	}
	// Written while the answer is read: a pipe has no buffer, and a refused connection
	// is answered before its request is read.
	go client.Write([]byte("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"))
	response, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		return nil
	}
	response.Body.Close()
	return response
}

// peerPipe is one end of a pipe that reports a TCP peer address.
type peerPipe struct {
	net.Conn
	remote net.Addr
}

func (p *peerPipe) RemoteAddr() net.Addr { return p.remote }

// TestConnectionsPerAddressCappedUnderTLS: the per-address connection cap holds on a TLS
// port too. The cap's listener must sit under TLS (a refused connection is closed before
// its handshake); TLS was wrapped around the bare listener instead, so a TLS port had no
// cap at all (fasthttp's own MaxConnsPerIP, which applied before, is no longer set).
// Two connections complete their handshakes and stay open; the third from the same
// address must be closed without one.
func TestConnectionsPerAddressCappedUnderTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent ops test CA")
	files := authority.IssueFiles(t)
	server := startServer(t, Config{TLSCertFile: files.Certificate, TLSKeyFile: files.Key,
		ConnectionsPerAddressMax: 2, RequestsPerSecondPerAddress: -1},
		newFakeSources().sources())
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitMax},
		Config: &tls.Config{RootCAs: authority.Pool(), MinVersion: tls.VersionTLS12}}
	dial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitMax)
		defer cancel()
		return dialer.DialContext(ctx, "tcp", server.Address())
	}
	for i := range 2 {
		conn, err := dial()
		if err != nil {
			t.Fatalf("connection %d within the cap: %v", i+1, err)
		}
		t.Cleanup(func() { conn.Close() })
	}
	if conn, err := dial(); err == nil {
		conn.Close()
		t.Fatal("a third TLS connection from one address completed its handshake " +
			"past a cap of 2")
	}
}
