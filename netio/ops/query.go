package ops

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
)

// errFragmentInQuery is a request's answer when its query as sent has a "#".
var errFragmentInQuery = errors.New(`a "#" in the query: a request target has no fragment`)

// checkQueryAsSent refuses a query with a "#", or with an argument name that has a
// percent-escape, on the routes that read query arguments.
//
// A request target has no fragment (RFC 9112), so a "#" after "?" is part of the query
// as sent, where fasthttp's QueryArgs stop: "?level=debug#x" set debug where Go's
// net/http reads the level "debug#x", "?until=now#&from=X" dropped the from a proxy or
// log sees, and "promote?#x" ran with a query they read as "#x"
// (TestOpsQuery50RepeatedArgumentOrFragmentIsRefused). An escaped "%23" is a character of
// its value and stays. The path has no "#" here: AsSent keeps one in the path, which no
// route has.
//
// fasthttp decodes a name ("l%65vel" is "level"), where a reader matching names as sent
// (Traffic Server's header_rewrite QUERY:name, a grep of the access log) sees an argument
// it does not know and not the one served: "?l%65vel=debug" set the level past a rule on
// the name level, "?p%61rtner=6" netted a partner the log does not show. No argument name
// needs an escape (as no route does: routeOf), so a name with one is refused, a value's
// escapes stay (TestReview50EscapedArgumentNameIsRefused).
func checkQueryAsSent(ctx *fasthttp.RequestCtx) error {
	target := ctx.Request.Header.RequestURI()
	start := bytes.IndexByte(target, '?')
	if start < 0 {
		return nil
	}
	query := target[start+1:]
	if bytes.IndexByte(query, '#') >= 0 {
		return errFragmentInQuery
	}
	for len(query) > 0 {
		argument := query
		if end := bytes.IndexByte(query, '&'); end >= 0 {
			argument, query = query[:end], query[end+1:]
		} else {
			query = nil
		}
		name, _, _ := bytes.Cut(argument, []byte("="))
		if bytes.IndexByte(name, '%') >= 0 {
			return errors.New("query argument " + strconv.Quote(truncate(string(name), 64)) +
				": a name is sent unescaped")
		}
	}
	return nil
}
