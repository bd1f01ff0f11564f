package ops

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReview50EscapedArgumentNameIsRefused: the claim under review is that no route that
// reads query arguments serves another query than a proxy or log in front reads. fasthttp
// decodes an argument's name ("l%65vel" is "level"), where a reader matching names as sent
// (Traffic Server's header_rewrite QUERY:name, a grep of the access log) sees an argument
// it does not know and not the one served: "?l%65vel=debug" set the log level past a rule
// on the name level, "?p%61rtner=6" netted a partner the log does not show, "?sh%61rd=1"
// checked another shard's chain. No argument name here needs an escape (as no route does,
// routeOf), so a name with a "%" is 400 bad_request and reaches no source; an escape in a
// value ("%23") is still served.
func TestReview50EscapedArgumentNameIsRefused(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	var mutex sync.Mutex
	var reached []string
	sources.Settlement = func(_ context.Context, query SettlementQuery) (any, error) {
		mutex.Lock()
		defer mutex.Unlock()
		reached = append(reached, fmt.Sprint("settlement ", query))
		return map[string]any{"ok": true}, nil
	}
	sources.VerifyChain = func(_ context.Context, query ChainQuery) (any, error) {
		mutex.Lock()
		defer mutex.Unlock()
		reached = append(reached, fmt.Sprint("chain ", query))
		return map[string]any{"ok": true}, nil
	}
	var depthReads atomic.Int64
	sources.Console = fakeConsoleSources(&depthReads)
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, sources)
	send := func(method, target string) response {
		return rawExchange(t, server, method+" "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
			"Authorization: Bearer "+testTokens["alice"]+"\r\n", "")
	}
	refused := []struct{ method, target string }{
		{"GET", PathSettlement + "?partner=5&until=now&fr%6Fm=2025-01-01"},
		{"GET", PathSettlement + "?partner=5&p%61rtner=6&until=now"},
		{"GET", PathSettlement + "?p%61rtner=5&until=now"},
		{"GET", PathChain + "?sh%61rd=1"},
		{"GET", PathChain + "?%75ntil=now"},
		{"GET", PathDepth + "?instrument=7&l%65vels=1"},
		{"GET", PathDepth + "?%69nstrument=7"},
		{"POST", PathLogLevel + "?l%65vel=debug"},
	}
	for _, c := range refused {
		got := send(c.method, c.target)
		if got.code != http.StatusBadRequest || got.reply(t).Code != CodeBadRequest {
			t.Errorf("%s %s: %d %.120s, want 400 %s", c.method, c.target, got.code, got.body,
				CodeBadRequest)
		}
	}
	mutex.Lock()
	got := fmt.Sprint(reached)
	mutex.Unlock()
	if got != "[]" || depthReads.Load() != 0 || len(fake.eventList()) != 0 {
		t.Fatalf("refused queries reached sources: %s, %d depth reads, events %v", got,
			depthReads.Load(), fake.eventList())
	}

	// Names as sent are served, and a value's needed escapes ("#", "+").
	served := []struct{ method, target string }{
		{"GET", PathSettlement + "?partner=5&until=now%23"},
		{"GET", PathChain + "?until=2026-01-01T00:00:00%2B01:00&shard=1"},
		{"GET", PathDepth + "?instrument=7"},
		{"POST", PathLogLevel + "?level=debug"},
	}
	for _, c := range served {
		if got := send(c.method, c.target); got.code != http.StatusOK {
			t.Errorf("%s %s: %d %.120s, want 200", c.method, c.target, got.code, got.body)
		}
	}
	mutex.Lock()
	got = fmt.Sprint(reached)
	mutex.Unlock()
	want := "[settlement {[5]  now# 10000} chain { 2026-01-01T00:00:00+01:00 0 1}]"
	if got != want {
		t.Errorf("sources were asked %s, want %s", got, want)
	}
	if depthReads.Load() != 1 {
		t.Errorf("%d depth reads, want 1", depthReads.Load())
	}
}

// TestReview50QueryRefusalComesAfterTheToken: the routes that take a token check it
// before the query (no oracle for a caller without one): a "#", a repeat or an escaped
// name is 401 without a token, 403 with a wrong one, on settlement, the admin and the
// risk actions.
func TestReview50QueryRefusalComesAfterTheToken(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens),
		RequestsPerSecondPerAddress: -1}, fake.sources())
	for _, target := range []string{
		"GET " + PathSettlement + "?partner=5&until=now#",
		"GET " + PathSettlement + "?partner=5&until=now&until=now",
		"GET " + PathSettlement + "?p%61rtner=5&until=now",
		"POST " + PathLogLevel + "?level=debug#",
		"POST " + PathLogLevel + "?l%65vel=debug",
		"POST " + PathPromote + "?#",
		"POST " + PathRiskSet + "?#",
		"POST " + PathRiskRemove + "?x=1&x=1",
	} {
		for _, c := range []struct {
			header string
			code   int
		}{
			{"", http.StatusUnauthorized},
			{"Authorization: Bearer wrong\r\n", http.StatusForbidden},
		} {
			got := rawExchange(t, server,
				target+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+c.header, "")
			if got.code != c.code {
				t.Errorf("%s (%q): %d %.120s, want %d", target, c.header, got.code, got.body,
					c.code)
			}
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("events %v, want none", events)
	}
}
