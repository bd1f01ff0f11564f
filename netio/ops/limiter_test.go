package ops

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
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
		conn, err := net.DialTimeout("tcp", server.Address(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
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
