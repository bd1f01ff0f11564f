package httppath

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAsSentIsNotNormalized: AsSent gives the path bytes of the request line, where
// fasthttp's Path decodes, resolves and collapses; the query is left out (a "#" is kept:
// a request target has no fragment; TestReview50FragmentIsNotARoute),
// an absolute-form target gives its path, and an origin-form one all of it, whether the
// request has a Host header or not.
func TestAsSentIsNotNormalized(t *testing.T) {
	for _, c := range []struct{ host, target, asSent, normalized string }{
		{"127.0.0.1", "/v1/status", "/v1/status", "/v1/status"},
		{"127.0.0.1", "/v1/admin%2Fsnapshot?x=1", "/v1/admin%2Fsnapshot", "/v1/admin/snapshot"},
		{"127.0.0.1", "/x/../v1/status#top", "/x/../v1/status#top", "/v1/status"},
		{"127.0.0.1", "//v1/./status", "//v1/./status", "/v1/status"},
		{"127.0.0.1", "http://127.0.0.1:7401/x/%2e%2e/metrics?y", "/x/%2e%2e/metrics",
			"/metrics"},
		// Without a Host header (HTTP/1.0) fasthttp reads the "x" of "//x/…" as a host.
		{"", "//x/v1/status?y", "//x/v1/status", "/v1/status"},
		{"", "/v1/status#top", "/v1/status#top", "/v1/status"},
	} {
		var ctx fasthttp.RequestCtx
		if c.host != "" {
			ctx.Request.Header.SetHost(c.host)
		}
		ctx.Request.SetRequestURI(c.target)
		if got := AsSent(&ctx); got != c.asSent {
			t.Errorf("%s: AsSent %q, want %q", c.target, got, c.asSent)
		}
		if got := string(ctx.Path()); got != c.normalized {
			t.Errorf("%s: fasthttp's Path %q, want %q (the difference this package is for)",
				c.target, got, c.normalized)
		}
	}
}

// TestQueryAndEscapedName: Query is the target after its first "?", a "#" and what
// follows included (fasthttp's QueryArgs stop at "#"); EscapedName finds the first
// argument name with a percent-escape, never a value's. Both servers refuse on them
// (netio/api accountQuery, netio/ops checkQueryAsSent), each in its own words.
func TestQueryAndEscapedName(t *testing.T) {
	for _, c := range []struct{ target, query, escaped string }{
		{"/v1/status", "", ""},
		{"/v1/status?", "", ""},
		{"/v1/x?a=1&b=%41#c?d", "a=1&b=%41#c?d", ""},
		{"/v1/x?a=1&&l%65vel=2&%41=3", "a=1&&l%65vel=2&%41=3", "l%65vel"},
		{"/v1/x?%6Cimit", "%6Cimit", "%6Cimit"},
		{"http://h/v1/x?p%61rtner=6=7", "p%61rtner=6=7", "p%61rtner"},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(c.target)
		query := Query(&ctx)
		if string(query) != c.query {
			t.Errorf("%s: Query %q, want %q", c.target, query, c.query)
		}
		if got := EscapedName(query); string(got) != c.escaped {
			t.Errorf("%s: EscapedName %q, want %q", c.target, got, c.escaped)
		}
	}
}
