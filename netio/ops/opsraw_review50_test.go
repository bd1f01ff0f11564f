package ops

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// escapedVariants returns route with one of its letters percent-encoded, in each
// segment, with upper- and lower-case hex digits: paths a proxy that filters by the raw
// path ("path_beg /v1/admin/", as HAProxy reads it) does not see as the route.
func escapedVariants(route string) []string {
	var variants []string
	for i := 1; i < len(route); i++ {
		if route[i-1] != '/' || route[i] == '/' {
			continue
		}
		upper := fmt.Sprintf("%%%02X", route[i])
		variants = append(variants, route[:i]+upper+route[i+1:],
			route[:i]+strings.ToLower(upper)+route[i+1:])
	}
	return variants
}

// TestReview50EscapedRouteIsNotARoute (review of opsraw50; claim: the operators' port
// still routes a path whose raw form is not the route). The port decoded each segment
// before comparing with its fixed routes, so "POST /v1/%61dmin/snapshot" ran the
// snapshot action: a proxy in front that refuses "/v1/admin/" by the raw path (HAProxy's
// path_beg, Envoy without normalize_path, a log grep) let it through. No route of this
// port has a character that needs an escape, so a path with any escape is now no route:
// 404 not_found, nothing run. (A proxy that decodes first sees the route and refuses it;
// one that does not passes a path this port does not serve: neither lets the action by.)
func TestReview50EscapedRouteIsNotARoute(t *testing.T) {
	fake, send := startRawServer(t)
	for _, route := range opsRoutes {
		for _, variant := range escapedVariants(route.path) {
			got := send(route.method, variant)
			if got.code != http.StatusNotFound || got.reply(t).Code != CodeNotFound {
				t.Errorf("%s %s: %d %.80s, want 404 %s (its raw path is not %s)",
					route.method, variant, got.code, got.body, CodeNotFound, route.path)
			}
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Fatalf("escaped paths ran actions: %v", events)
	}
	if got := send("POST", PathSnapshot); got.code != http.StatusOK {
		t.Errorf("POST %s: %d %s, want 200", PathSnapshot, got.code, got.body)
	}
}

// TestReview50NonPathTargetIsNotARoute (review of opsraw50; claim: AsSent returns a path
// fasthttp cut out of a target that is neither origin- nor absolute-form). fasthttp takes
// any target on a CONNECT, and reads "x//127.0.0.1/v1/admin/snapshot" on a request
// without Host as scheme "x", host "127.0.0.1", path "/v1/admin/snapshot": the port
// routed it as that route (405 "use POST", counted and logged as /v1/admin/snapshot).
// As sent, the target has no such path: 404 not_found, as for "//x/v1/admin/snapshot".
func TestReview50NonPathTargetIsNotARoute(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, fake.sources())
	for _, path := range []string{PathSnapshot, PathStatus} {
		head := "CONNECT x//127.0.0.1" + path + " HTTP/1.0\r\nAuthorization: Bearer " +
			testTokens["alice"] + "\r\nContent-Length: 0\r\n"
		if got := rawRequest(t, server, head); got.code != http.StatusNotFound {
			t.Errorf("CONNECT x//127.0.0.1%s without Host: %d %.80s, want 404 not_found",
				path, got.code, got.body)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("ran actions: %v", events)
	}
}

// TestReview50FragmentIsNotARoute (review of opsraw50; claim: a "#" in the request target
// still reaches an admin route). A request target has no fragment (RFC 9112), so a
// proxy may read "/v1/admin/promote#x" as that whole path — HAProxy before 2.8.2 did
// (CVE-2023-45539: a path or path_end rule missed it), as does Go's net/http — while
// AsSent cut it at "#", as fasthttp does, and the port ran the action. "#" is now part of
// the path as sent, which no route has: 404 not_found, nothing run. The query ("?")
// is still cut off.
func TestReview50FragmentIsNotARoute(t *testing.T) {
	fake, send := startRawServer(t)
	for _, c := range []struct{ method, target string }{{"POST", PathPromote + "#x"},
		{"POST", PathSnapshot + "#"}, {"POST", PathReloadKeys + "#?y"},
		{"POST", PathLogLevel + "#?level=debug"},
		{"POST", "http://127.0.0.1" + PathSnapshot + "#x"}, {"GET", PathStatus + "#top"}} {
		if got := send(c.method, c.target); got.code != http.StatusNotFound {
			t.Errorf("%s %s: %d %.80s, want 404 not_found", c.method, c.target, got.code,
				got.body)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("targets with a fragment ran actions: %v", events)
	}
	if got := send("GET", PathStatus+"?x#y"); got.code != http.StatusOK {
		t.Errorf("GET %s?x#y: %d %s, want 200 (a query, with its \"#\")", PathStatus,
			got.code, got.body)
	}
}
