package httppath

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestReview50AsSentOfATargetThatIsNotAPath (review of opsraw50; claim: AsSent returns a
// path that is not in the request target). fasthttp accepts any target on a CONNECT
// (authority-form) and "*" on an OPTIONS; without a Host header it reads
// "x//127.0.0.1/v1/status" as scheme "x", host "127.0.0.1" and path "/v1/status", which
// AsSent returned and both servers routed. Only an absolute-form target ("scheme://")
// has a path fasthttp must cut out; any other is the path as sent up to "?" or "#".
func TestReview50AsSentOfATargetThatIsNotAPath(t *testing.T) {
	for _, c := range []struct{ head, asSent string }{
		{"CONNECT x//127.0.0.1/v1/status HTTP/1.0\r\n", "x//127.0.0.1/v1/status"},
		{"CONNECT x//127.0.0.1/v1/status?y HTTP/1.0\r\n", "x//127.0.0.1/v1/status"},
		{"CONNECT 127.0.0.1:7401 HTTP/1.1\r\nHost: 127.0.0.1\r\n", "127.0.0.1:7401"},
		{"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n", "*"},
		{"GET http://127.0.0.1/v1/status?y HTTP/1.1\r\nHost: 127.0.0.1\r\n", "/v1/status"},
		{"GET x://127.0.0.1//v1/status HTTP/1.0\r\n", "//v1/status"},
		{"GET //x/v1/status HTTP/1.0\r\n", "//x/v1/status"},
	} {
		var ctx fasthttp.RequestCtx
		head := bufio.NewReader(strings.NewReader(c.head + "\r\n"))
		if err := ctx.Request.Read(head); err != nil {
			t.Fatalf("%q: %v", c.head, err)
		}
		if got := AsSent(&ctx); got != c.asSent {
			t.Errorf("%q: AsSent %q, want %q", c.head, got, c.asSent)
		}
	}
}

// TestReview50AsSentCutsAnAbsoluteTargetAsFasthttp: AsSent reads an absolute-form
// target's path from the request line itself (so that a "#" stays in it), ending its
// authority where fasthttp ends the host the servers check; without a "#" the path is
// fasthttp's PathOriginal, byte for byte.
func TestReview50AsSentCutsAnAbsoluteTargetAsFasthttp(t *testing.T) {
	for _, c := range []struct{ target, asSent string }{
		{"http://127.0.0.1:7401/v1/status", "/v1/status"},
		{"http://127.0.0.1:7401//v1/%2e%2E/status?a=/b#c", "//v1/%2e%2E/status"},
		{"HTTPS://user:pw@127.0.0.1/v1/admin/snapshot", "/v1/admin/snapshot"},
		{"x+y.z://127.0.0.1?/v1/status", ""},
		{"http://127.0.0.1", "/"},
		{"http://127.0.0.1/v1/status#x", "/v1/status#x"},
		{"http://127.0.0.1#/v1/status", "#/v1/status"},
		{"http://127.0.0.1/a?b://c/d", "/a"},
	} {
		for _, version := range []string{" HTTP/1.0\r\n", " HTTP/1.1\r\nHost: 127.0.0.1\r\n"} {
			head := "GET " + c.target + version + "\r\n"
			var ctx fasthttp.RequestCtx
			if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
				t.Fatalf("%q: %v", head, err)
			}
			got := AsSent(&ctx)
			if got != c.asSent {
				t.Errorf("%q: AsSent %q, want %q", head, got, c.asSent)
			}
			if strings.IndexByte(c.target, '#') < 0 &&
				got != string(ctx.URI().PathOriginal()) {
				t.Errorf("%q: AsSent %q, fasthttp's PathOriginal %q", head, got,
					ctx.URI().PathOriginal())
			}
		}
	}
}
