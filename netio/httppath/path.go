package httppath

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// AsSent returns the request's path exactly as sent, without its query: within the
// request URI, so the bytes a signature over the request line covers. For routing (the
// JSON API splits it at its slashes and matches each segment byte for byte with its
// patterns; the operators' port compares it byte for byte with its fixed routes) and
// for logs. It reads the request line only, never fasthttp's parse.
//
// A target that starts with "/" is origin-form (RFC 9112): all of it up to "?" is the
// path, "//x/v1/status" included. fasthttp reads such a target, on a request without a
// Host header (HTTP/1.0), as a network-path reference: host "x", path "/v1/status",
// which routed it as /v1/status (TestAsSentIsNotNormalized). An absolute-form target
// ("http://host/path"; fasthttp accepts one only with a valid scheme before its first
// "://") has the path after its authority, which ends at the first "/", "?" or "#" as
// fasthttp ends the host it checks. Any other target fasthttp accepts (a CONNECT's
// authority-form, where it takes anything, and an OPTIONS "*") is its own path: so
// "x//127.0.0.1/v1/status", which fasthttp reads without a Host header as host
// 127.0.0.1 and path /v1/status, is no route (TestReview50AsSentOfATargetThatIsNotAPath).
//
// A "#" is part of the path: a request target has no fragment (RFC 9112), and a proxy
// may read "/v1/admin/promote#x" as that whole path (HAProxy before 2.8.2, Go's
// net/http), where fasthttp cuts a fragment off; routed as "/v1/admin/promote" it passed
// a proxy's rule for that path (TestReview50FragmentIsNotARoute).
func AsSent(ctx *fasthttp.RequestCtx) string {
	target := ctx.Request.Header.RequestURI()
	if len(target) > 0 && target[0] != '/' {
		if scheme := bytes.Index(target, []byte("://")); scheme >= 0 {
			authority := target[scheme+len("://"):]
			end := bytes.IndexAny(authority, "/?#")
			if end < 0 {
				return "/" // "http://host": the path is empty, which is "/" (as fasthttp).
			}
			target = authority[end:]
		}
	}
	if end := bytes.IndexByte(target, '?'); end >= 0 {
		target = target[:end]
	}
	return string(target)
}

// ErrFragmentInQuery refuses a request whose query as sent (Query) has a "#": a request
// target has no fragment (RFC 9112), so the "#" and what follows are part of the query a
// proxy or log reads, where fasthttp's QueryArgs stop at it. Both servers answer it on
// the routes that read query arguments, each in its own format.
var ErrFragmentInQuery = errors.New(`a "#" in the query: a request target has no fragment`)

// Query returns the request's query exactly as sent: the request target after its first
// "?", a "#" and all after it included; nil when there is none.
func Query(ctx *fasthttp.RequestCtx) []byte {
	_, query, _ := bytes.Cut(ctx.Request.Header.RequestURI(), []byte("?"))
	return query
}

// EscapedName returns the first argument name of a query as sent (Query) that holds a
// percent-escape, or nil. fasthttp decodes names ("l%65vel" is "level"), where a reader
// matching names as sent (a proxy rule, a grep of the access log) sees an argument it
// does not know and not the one served; no argument name of either server needs an
// escape, so both refuse a name with one (each in its own format), and a value's escapes
// stay.
func EscapedName(query []byte) []byte {
	for len(query) > 0 {
		var argument []byte
		argument, query, _ = bytes.Cut(query, []byte("&"))
		if name, _, _ := bytes.Cut(argument, []byte("=")); bytes.IndexByte(name, '%') >= 0 {
			return name
		}
	}
	return nil
}
