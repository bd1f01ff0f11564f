package ops

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// errFragmentInQuery is a request's answer when its query as sent has a "#".
var errFragmentInQuery = errors.New(`a "#" in the query: a request target has no fragment`)

// checkQueryAsSent refuses a query with a "#" on the routes that read query arguments.
// A request target has no fragment (RFC 9112), so a "#" after "?" is part of the query
// as sent, where fasthttp's QueryArgs stop: "?level=debug#x" set debug where Go's
// net/http reads the level "debug#x", "?until=now#&from=X" dropped the from a proxy or
// log sees, and "promote?#x" ran with a query they read as "#x"
// (TestOpsQuery50RepeatedArgumentOrFragmentIsRefused). An escaped "%23" is a character of
// its value and stays. The path has no "#" here: AsSent keeps one in the path, which no
// route has.
func checkQueryAsSent(ctx *fasthttp.RequestCtx) error {
	target := ctx.Request.Header.RequestURI()
	if query := bytes.IndexByte(target, '?'); query >= 0 &&
		bytes.IndexByte(target[query:], '#') >= 0 {
		return errFragmentInQuery
	}
	return nil
}
