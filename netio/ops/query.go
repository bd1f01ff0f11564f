package ops

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"sequent/netio/httppath"
)

// checkQueryAsSent refuses a query with a "#" (httppath.ErrFragmentInQuery), or with an
// argument name that has a percent-escape (httppath.EscapedName), on the routes that read
// query arguments.
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
	query := httppath.Query(ctx)
	if bytes.IndexByte(query, '#') >= 0 {
		return httppath.ErrFragmentInQuery
	}
	if name := httppath.EscapedName(query); name != nil {
		return errors.New("query argument " + strconv.Quote(truncate(string(name), 64)) +
			": a name is sent unescaped")
	}
	return nil
}
