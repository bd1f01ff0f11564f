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
