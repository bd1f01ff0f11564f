package ops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"sequent/tools/testcert"

	"github.com/valyala/fasthttp"
)

// TestAllowListLoopback runs two real servers on loopback: one whose allow-list leaves
// out 127.0.0.1 refuses every endpoint with 403, including an admin request with a good
// token (which is neither audited nor run); one that lists 127.0.0.0/8 serves normally.
func TestAllowListLoopback(t *testing.T) {
	fake := newFakeSources()
	closed := startServer(t, Config{AllowCIDRs: []string{"10.0.0.0/8", "::1/128"},
		Tokens: TokenChecker(testTokens)}, fake.sources())
	for _, path := range []string{PathMetrics, PathHealth, PathReady, PathStatus, "/nope"} {
		result := get(t, closed, path)
		if reply := result.reply(t); result.code != 403 || reply.Code != CodeAddressNotAllowed {
			t.Errorf("GET %s: %d %s", path, result.code, result.body)
		}
	}
	result := post(t, closed, PathPromote, testTokens["alice"])
	if reply := result.reply(t); result.code != 403 || reply.Code != CodeAddressNotAllowed {
		t.Errorf("promote: %d %s", result.code, result.body)
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("events %v", events)
	}
	open := startServer(t, Config{AllowCIDRs: []string{"127.0.0.0/8"},
		Tokens: TokenChecker(testTokens)}, fake.sources())
	if result := get(t, open, PathHealth); result.code != 200 {
		t.Errorf("allowed: %d %s", result.code, result.body)
	}
	if result := post(t, open, PathPromote, testTokens["alice"]); result.code != 200 {
		t.Errorf("allowed promote: %d %s", result.code, result.body)
	}
}

// TestAllowListRemoteAddresses calls the handler directly with fake peer addresses
// (fasthttp's RequestCtx.Init), to cover addresses loopback cannot produce: IPv4 inside
// and outside the networks, IPv4-mapped IPv6, IPv6 with a zone, and a peer address that
// is not an IP at all.
func TestAllowListRemoteAddresses(t *testing.T) {
	server, err := New(Config{AllowCIDRs: []string{"10.0.0.0/8", "2001:db8::/32",
		"192.168.1.7"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		newFakeSources().sources())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		address net.Addr
		allowed bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3").To16(), Port: 5}, true}, // ::ffff:10.1.2.3
		{&net.TCPAddr{IP: net.ParseIP("11.1.2.3"), Port: 5}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.7"), Port: 5}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.8"), Port: 5}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5, Zone: "eth0"}, true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db9::1"), Port: 5}, false},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5}, false},
		{&net.UnixAddr{Name: "/tmp/socket", Net: "unix"}, false},
	}
	for _, c := range cases {
		var request fasthttp.Request
		request.SetRequestURI(PathHealth)
		var ctx fasthttp.RequestCtx
		ctx.Init(&request, c.address, nil)
		server.handle(&ctx)
		got := ctx.Response.StatusCode() != fasthttp.StatusForbidden
		if got != c.allowed {
			t.Errorf("%v: allowed %v, want %v (%d %s)", c.address, got, c.allowed,
				ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// TestParseAllowCIDRs checks the allow-list syntax: prefixes, bare addresses, mapped
// forms, and refusals (garbage, host bits set, zones, short mapped prefixes).
func TestParseAllowCIDRs(t *testing.T) {
	good := map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", " 192.168.0.1 ": "192.168.0.1/32", "::1": "::1/128",
		"::ffff:10.0.0.0/104": "10.0.0.0/8", "::ffff:10.0.0.1": "10.0.0.1/32",
		"0.0.0.0/0": "0.0.0.0/0",
	}
	for entry, want := range good {
		prefixes, err := ParseAllowCIDRs([]string{entry})
		if err != nil || prefixes[0].String() != want {
			t.Errorf("%q: %v %v, want %s", entry, prefixes, err, want)
		}
	}
	for _, entry := range []string{"", "10.0.0.1/8", "10.0.0.0/33", "fe80::1%eth0", "host",
		"::ffff:0:0/95", "10.0.0.0/8/8"} {
		if _, err := ParseAllowCIDRs([]string{entry}); !errors.Is(err, ErrConfig) {
			t.Errorf("%q accepted (%v)", entry, err)
		}
	}
	if !allowed(nil, netip.MustParseAddr("203.0.113.9")) {
		t.Errorf("an empty allow-list refused an address")
	}
}

// TestConfigErrors: New refuses missing sources, half a TLS pair, an unreadable
// certificate, a bad or over-long allow-list, all with ErrConfig.
func TestConfigErrors(t *testing.T) {
	good := newFakeSources().sources()
	noSnapshot, noAudit := good, good
	noSnapshot.Snapshot, noAudit.Audit = nil, nil
	many := make([]string, allowCIDRsMax+1)
	for i := range many {
		many[i] = "10.0.0.0/8"
	}
	cases := []struct {
		config  Config
		sources Sources
	}{
		{Config{}, noSnapshot},
		{Config{}, noAudit},
		{Config{TLSCertFile: "cert.pem"}, good},
		{Config{TLSCertFile: "/nonexistent/cert.pem", TLSKeyFile: "/nonexistent/key.pem"}, good},
		{Config{AllowCIDRs: []string{"10.0.0.0/40"}}, good},
		{Config{AllowCIDRs: many}, good},
	}
	for i, c := range cases {
		if _, err := New(c.config, c.sources); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

// TestTokenChecker: each token names its holder; near misses, prefixes, the empty token
// and tokens of another holder's length are refused; an empty configured token never
// matches.
func TestTokenChecker(t *testing.T) {
	check := TokenChecker(map[string]string{"alice": "secret-a", "bob": "secret-b",
		"nobody": ""})
	for token, want := range map[string]string{"secret-a": "alice", "secret-b": "bob"} {
		if who, ok := check(token); !ok || who != want {
			t.Errorf("%q: %q %v", token, who, ok)
		}
	}
	for _, token := range []string{"", "secret-", "secret-c", "secret-aa", "SECRET-A"} {
		if who, ok := check(token); ok {
			t.Errorf("%q accepted as %q", token, who)
		}
	}
}

// TestBearerToken checks the Authorization parser's three answers: no credential,
// a malformed one, a token.
func TestBearerToken(t *testing.T) {
	cases := []struct {
		header, token string
		present       bool
	}{
		{"", "", false},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearerabc", "", false},
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==", true},
		{"Bearer a b", "", true},
		{"Bearer =abc", "", true},
		{"Bearer é", "", true},
		{"Bearer " + strings.Repeat("x", tokenBytesMax), strings.Repeat("x", tokenBytesMax), true},
		{"Bearer " + strings.Repeat("x", tokenBytesMax+1), "", true},
	}
	for _, c := range cases {
		token, present := bearerToken([]byte(c.header))
		if token != c.token || present != c.present {
			t.Errorf("%q: %q %v, want %q %v", c.header, token, present, c.token, c.present)
		}
	}
}

// TestTLS generates a self-signed certificate, serves HTTPS with it, and checks a round
// trip (status and an admin action) with a client that trusts it; a client that does not
// trust it, and plain HTTP to the TLS port, both fail.
func TestTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent ops test CA")
	files, pool := authority.IssueFiles(t), authority.Pool()
	certFile, keyFile := files.Certificate, files.Key
	fake := newFakeSources()
	server := startServer(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile,
		Tokens: TokenChecker(testTokens)}, fake.sources())
	base := "https://" + server.Address()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	result := call(t, client, http.MethodGet, base+PathStatus, "", nil, nil)
	var status Status
	if err := json.Unmarshal(result.body, &status); result.code != 200 || err != nil ||
		status.Role != RolePrimary {
		t.Fatalf("status over TLS: %d %v %s", result.code, err, result.body)
	}
	result = call(t, client, http.MethodPost, base+PathPromote, testTokens["alice"], nil, nil)
	if reply := result.reply(t); result.code != 200 || reply.Epoch != 7 {
		t.Fatalf("promote over TLS: %d %s", result.code, result.body)
	}
	untrusting := &http.Client{Timeout: 20 * time.Second}
	if _, err := untrusting.Get(base + PathHealth); err == nil {
		t.Errorf("a client without the CA connected")
	}
	plain := &http.Client{Timeout: 20 * time.Second}
	if response, err := plain.Get("http://" + server.Address() + PathHealth); err == nil {
		response.Body.Close()
		if response.StatusCode == 200 {
			t.Errorf("plain HTTP served on the TLS port")
		}
	}
}

// TestCertificateReload: after the certificate files are replaced and ReloadCertificate
// runs, new connections get the new certificate (a client trusting only the new CA
// connects, one trusting only the old CA does not); a reload from broken files fails and
// keeps the current certificate.
func TestCertificateReload(t *testing.T) {
	old, renewed := testcert.NewAuthority(t, "old CA"), testcert.NewAuthority(t, "new CA")
	files := old.IssueFiles(t)
	server := startServer(t, Config{TLSCertFile: files.Certificate, TLSKeyFile: files.Key,
		Tokens: TokenChecker(testTokens)}, newFakeSources().sources())
	url := "https://" + server.Address() + PathHealth
	trusting := func(authority *testcert.Authority) *http.Client {
		// No keep-alive: every request is a new handshake.
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{RootCAs: authority.Pool(), MinVersion: tls.VersionTLS12}}}
	}
	get := func(client *http.Client) error {
		response, err := client.Get(url)
		if err == nil {
			response.Body.Close()
		}
		return err
	}
	if err := get(trusting(old)); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	next := renewed.IssueFiles(t)
	for from, to := range map[string]string{next.Certificate: files.Certificate, next.Key: files.Key} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.ReloadCertificate(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := get(trusting(renewed)); err != nil {
		t.Fatalf("after the reload, a client trusting the new CA: %v", err)
	}
	if err := get(trusting(old)); err == nil {
		t.Fatal("after the reload, the old certificate is still served")
	}
	if err := os.WriteFile(files.Key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := server.ReloadCertificate(); err == nil {
		t.Fatal("a reload from a broken key file succeeded")
	}
	if err := get(trusting(renewed)); err != nil {
		t.Fatalf("a failed reload dropped the working certificate: %v", err)
	}
}

// TestRequestBounds: headers over headerBytesMax answer 431 in the usual JSON shape.
func TestRequestBounds(t *testing.T) {
	server := startServer(t, Config{}, newFakeSources().sources())
	result := call(t, nil, http.MethodGet, "http://"+server.Address()+PathHealth, "", nil,
		map[string]string{"X-Padding": strings.Repeat("p", headerBytesMax)})
	if reply := result.reply(t); result.code != 431 || reply.Code != CodeTooLarge {
		t.Errorf("big headers: %d %s", result.code, result.body)
	}
}

// TestLifecycle: Shutdown before Start is a no-op; Start twice is ErrStarted; after
// Shutdown nothing listens and a second Shutdown is harmless.
func TestLifecycle(t *testing.T) {
	server, err := New(Config{Address: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, newFakeSources().sources())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if server.Address() != "127.0.0.1:0" {
		t.Errorf("address before start: %s", server.Address())
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second start: %v", err)
	}
	address := server.Address()
	if strings.HasSuffix(address, ":0") {
		t.Fatalf("bound address %s", address)
	}
	if result := get(t, server, PathHealth); result.code != 200 {
		t.Fatalf("%d", result.code)
	}
	if err := server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if connection, err := net.DialTimeout("tcp", address, 5*time.Second); err == nil {
		connection.Close()
		t.Errorf("still listening after shutdown")
	}
}
