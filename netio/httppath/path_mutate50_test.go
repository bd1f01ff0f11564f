package httppath

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAsSentOfAPathWithAURLInItsQuery: an origin-form target (starting with "/") is its
// own path up to "?", even when its query (or path) holds a "://": only a target that
// is not a path can be absolute-form. Reading "/v1/status?next=http://x/v1/admin" as
// absolute-form would route it to /v1/admin.
func TestAsSentOfAPathWithAURLInItsQuery(t *testing.T) {
	for _, c := range []struct{ target, asSent string }{
		{"/v1/status?next=http://x/v1/admin", "/v1/status"},
		{"/v1/status/http://x/v1/admin", "/v1/status/http://x/v1/admin"},
	} {
		head := "GET " + c.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
		var ctx fasthttp.RequestCtx
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		if got := AsSent(&ctx); got != c.asSent {
			t.Errorf("%q: AsSent %q, want %q", c.target, got, c.asSent)
		}
	}
}

// TestAsSentOfAnAbsoluteTargetWithAnEmptyAuthority: an absolute-form target with an
// empty authority ("http:///v1/status") still has its path after it, as fasthttp reads it
// (its PathOriginal): the authority ends at once, not at the end of the target.
func TestAsSentOfAnAbsoluteTargetWithAnEmptyAuthority(t *testing.T) {
	for _, c := range []struct{ target, asSent string }{
		{"http:///v1/status", "/v1/status"},
		{"http:///v1/status?x", "/v1/status"},
	} {
		head := "GET " + c.target + " HTTP/1.0\r\n\r\n"
		var ctx fasthttp.RequestCtx
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		got := AsSent(&ctx)
		if got != c.asSent || got != string(ctx.URI().PathOriginal()) {
			t.Errorf("%q: AsSent %q, want %q; fasthttp's PathOriginal %q", c.target, got,
				c.asSent, ctx.URI().PathOriginal())
		}
	}
}
