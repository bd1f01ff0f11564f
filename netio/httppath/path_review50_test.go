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
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(c.head + "\r\n"))); err != nil {
			t.Fatalf("%q: %v", c.head, err)
		}
		if got := AsSent(&ctx); got != c.asSent {
			t.Errorf("%q: AsSent %q, want %q", c.head, got, c.asSent)
		}
	}
}
