package ops

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// opsRoutes is every route of the operators' port with the method it takes.
var opsRoutes = []struct{ method, path string }{
	{"GET", PathMetrics}, {"GET", PathHealth}, {"GET", PathReady}, {"GET", PathStatus},
	{"GET", PathSettlement}, {"GET", PathChain}, {"GET", PathReconcile},
	{"GET", PathRiskRules}, {"GET", PathConsole}, {"GET", consoleAssetsPrefix + "console.js"},
	{"GET", consoleAssetsPrefix + "console.css"}, {"GET", PathLatency}, {"GET", PathDepth},
	{"POST", PathPromote}, {"POST", PathSnapshot}, {"POST", PathReloadKeys},
	{"POST", PathLogLevel}, {"POST", PathRiskSet}, {"POST", PathRiskRemove},
}

// startRawServer starts a port with the test tokens and no rate limit, and returns its
// sources and a send that writes one request as raw bytes (method and target as given,
// HTTP/1.1, Host 127.0.0.1, alice's token, no body), so that no client rewrites the target.
func startRawServer(t *testing.T) (*fakeSources, func(method, target string) response) {
	t.Helper()
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, fake.sources())
	return fake, func(method, target string) response {
		return rawRequest(t, server, method+" "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
			"Authorization: Bearer "+testTokens["alice"]+"\r\nContent-Length: 0\r\n")
	}
}

// routeVariants returns paths that fasthttp's normalized Path reads as route but that a
// reader of the path as sent (a proxy filtering by path, a log, RFC 3986) reads as
// another: an encoded slash, "." and ".." segments (plain and encoded), repeated slashes.
func routeVariants(route string) []string {
	rest := route[1:]
	variants := []string{"/" + route, "/x/.." + route, "/." + route, "/x/%2e%2e" + route,
		"/x/%2E%2E" + route, "/x%2F..%2F" + rest, "/x%2f..%2f" + rest}
	if last := strings.LastIndexByte(route, '/'); last > 0 {
		variants = append(variants, route[:last]+"//"+route[last+1:],
			route[:last]+"%2F"+route[last+1:], route[:last]+"/./"+route[last+1:],
			route[:last]+"/x/../"+route[last+1:])
	}
	return variants
}

// TestOpsRaw50PathIsRoutedAsSent: the operators' port routed by fasthttp's normalized
// path, which decodes "%2F" into a separator and resolves "." and ".." segments and
// repeated slashes, so "POST /v1/admin%2Fsnapshot" or "//v1/admin/snapshot" — to a proxy
// that refuses "/v1/admin/" by path, or to a log reader, another path — ran the snapshot
// action. It now routes by the path as sent, nothing decoded or resolved: every such
// variant of every route is 404
// not_found, and no action runs, while each plain path is served as before (one whose
// letter is percent-encoded is not: TestReview50EscapedRouteIsNotARoute).
func TestOpsRaw50PathIsRoutedAsSent(t *testing.T) {
	fake, send := startRawServer(t)
	for _, route := range opsRoutes {
		for _, variant := range routeVariants(route.path) {
			// The variant must be a differential: fasthttp's normalized path is the route.
			var uri fasthttp.URI
			if err := uri.Parse([]byte("127.0.0.1"), []byte(variant)); err != nil ||
				string(uri.Path()) != route.path {
				t.Fatalf("%s: fasthttp normalizes it to %q (%v), want %s", variant,
					uri.Path(), err, route.path)
			}
			got := send(route.method, variant)
			if got.code != http.StatusNotFound || got.reply(t).Code != CodeNotFound {
				t.Errorf("%s %s: %d %.80s, want 404 %s (routed as sent)", route.method,
					variant, got.code, got.body, CodeNotFound)
			}
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Fatalf("paths routed as sent ran actions: %v", events)
	}
	for _, route := range opsRoutes {
		plain := send(route.method, route.path)
		if plain.code == http.StatusNotFound {
			t.Errorf("%s %s: %d %.80s, want it served", route.method, route.path, plain.code,
				plain.body)
		}
	}
	if got := send("POST", PathLogLevel+"?level=debug"); got.code != http.StatusOK {
		t.Errorf("POST %s?level=debug: %d %s, want 200", PathLogLevel, got.code, got.body)
	}
}

// TestOpsRaw50RefusalLogsThePathAsSent: a refused request's log line gives the path as
// sent (bounded), which is what the proxy in front and its logs saw, not fasthttp's
// normalized one, which showed "/x/%2e%2e/v1/status" as "/v1/status".
func TestOpsRaw50RefusalLogsThePathAsSent(t *testing.T) {
	var log lockedBuffer
	server := startServer(t, Config{AllowCIDRs: []string{"10.0.0.0/8"},
		RequestsPerSecondPerAddress: -1, Logger: slog.New(slog.NewJSONHandler(&log, nil))},
		newFakeSources().sources())
	const sent = "/x/%2e%2e/v1/status"
	long := "/" + strings.Repeat("a%2F", 100)
	for _, path := range []string{sent, long} {
		if got := rawRequest(t, server, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"); got.code != http.StatusForbidden {
			t.Fatalf("GET %s from outside --http-allow: %d %s, want 403", path, got.code, got.body)
		}
	}
	var paths []any
	for _, line := range strings.Split(log.text(), "\n") {
		var record map[string]any
		if json.Unmarshal([]byte(line), &record) == nil && record["msg"] == "ops: request refused" {
			paths = append(paths, record["path"])
		}
	}
	if len(paths) != 2 || paths[0] != sent || paths[1] != long[:128] {
		t.Errorf("refusals logged paths %q, want %q and the first 128 bytes of %q", paths,
			sent, long)
	}
}

// TestOpsRaw50DoubleSlashWithoutHostIsNotARoute: fasthttp reads an origin-form target
// "//x/v1/admin/snapshot" on a request without a Host header (HTTP/1.0) as host "x" and
// path "/v1/admin/snapshot", and the port ran the action for it (when "x" is a
// --http-host name, so that the Host check passes). To the request line, and a proxy, the
// path is "//x/v1/admin/snapshot": 404, nothing run.
func TestOpsRaw50DoubleSlashWithoutHostIsNotARoute(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens), Hosts: []string{"x"},
		RequestsPerSecondPerAddress: -1}, fake.sources())
	for _, route := range []struct{ method, path string }{{"GET", PathStatus},
		{"POST", PathSnapshot}} {
		got := rawRequest(t, server, route.method+" //x"+route.path+" HTTP/1.0\r\n"+
			"Authorization: Bearer "+testTokens["alice"]+"\r\nContent-Length: 0\r\n")
		if got.code != http.StatusNotFound {
			t.Errorf("%s //x%s without Host: %d %.80s, want 404", route.method, route.path,
				got.code, got.body)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("ran actions: %v", events)
	}
}
