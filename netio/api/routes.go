package api

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"sequent/core/model"
	"sequent/netio"
)

// route is one endpoint: method, path pattern ("{id}" matches one path segment), the
// OpenAPI operationId the document describes it under, and its handler. The table is
// the API: the router serves exactly these, and the OpenAPI test requires the document
// to describe exactly these.
type route struct {
	method      string
	pattern     string
	operationID string
	public      bool // Served without authentication.
	handler     func(*request)
}

// routes lists every endpoint (handlers.go).
var routes = []route{
	{"GET", "/v1/openapi.json", "getOpenAPI", true, (*request).openAPI},
	{"GET", "/v1/time", "getTime", true, (*request).time},
	{"POST", "/v1/accounts", "createAccounts", false, (*request).createAccounts},
	{"POST", "/v1/accounts/lookup", "lookupAccounts", false, (*request).lookupAccounts},
	{"GET", "/v1/accounts/{id}", "getAccount", false, (*request).getAccount},
	{"GET", "/v1/accounts/{id}/transfers", "getAccountTransfers", false, (*request).accountTransfers},
	{"GET", "/v1/accounts/{id}/balances", "getAccountBalances", false, (*request).accountBalances},
	{"POST", "/v1/transfers", "createTransfers", false, (*request).createTransfers},
	{"POST", "/v1/transfers/lookup", "lookupTransfers", false, (*request).lookupTransfers},
	{"GET", "/v1/transfers/{id}", "getTransfer", false, (*request).getTransfer},
	{"POST", "/v1/transfers/{id}/post", "postTransfer", false, (*request).postTransfer},
	{"POST", "/v1/transfers/{id}/void", "voidTransfer", false, (*request).voidTransfer},
	{"POST", "/v1/conversions", "createConversion", false, (*request).createConversion},
}

// request is one request being served.
type request struct {
	ctx        *fasthttp.RequestCtx
	server     *Server
	client     *netio.Client // Nil on public routes.
	parameters []string      // The path's {…} segments, in order.
	body       []byte        // The whole body (readBody), nil when empty.
}

// routeSegments holds each route's pattern split at "/", once, so that matching a
// request splits only its path.
var routeSegments = func() [][]string {
	segments := make([][]string, len(routes))
	for i := range routes {
		segments[i] = strings.Split(routes[i].pattern, "/")
	}
	return segments
}()

// routeSegmentsMax is the most segments a route has (its pattern's slashes plus one).
var routeSegmentsMax = func() int {
	most := 0
	for _, segments := range routeSegments {
		most = max(most, len(segments))
	}
	return most
}()

// match finds the route of a method and path as sent (httppath.AsSent), split at its
// slashes and nothing decoded or resolved: the route and its parameters, or the status
// that refuses it (404 no such path, 405 no such method on it). A route's fixed words
// must be sent byte for byte, so "/v1/%61ccounts/1", "/v1/transfers/5/%70ost" and
// "/v1/accounts%2Flookup" are no route, as a proxy or firewall rule matching the raw path
// reads them ("path_beg /v1/transfers/", a rule on "/post"): decoding each segment first
// served them (TestAPIEscape50PathIsMatchedAsSent). ".", ".." and empty segments, which
// no route has, match nothing (TestHunt49bPathIsRoutedAsSent). An {id} segment is taken
// as sent: an id (decimal, 0x hexadecimal or "max") never needs an escape, and one with an
// escape ("%31") is refused by the handler's parse as any other id that is not a number
// (400 bad_request; 405 for a method its route does not take).
func match(method, path string) (*route, []string, int) {
	if strings.Count(path, "/") >= routeSegmentsMax {
		// No route: counted, not split (a path of 8,000 slashes would be 8,001 strings,
		// 128 KB, for an unsigned 404; TestReview50APIEscapeLongPathIsNotSplit).
		return nil, nil, fasthttp.StatusNotFound
	}
	pathParts := strings.Split(path, "/")
	pathFound := false
	for i := range routes {
		parameters, ok := matchSegments(routeSegments[i], pathParts)
		if !ok {
			continue
		}
		pathFound = true
		if routes[i].method == method || (method == "HEAD" && routes[i].method == "GET") {
			return &routes[i], parameters, fasthttp.StatusOK
		}
	}
	if pathFound {
		return nil, nil, fasthttp.StatusMethodNotAllowed
	}
	return nil, nil, fasthttp.StatusNotFound
}

// matchPattern matches a path as sent against a pattern segment by segment (match).
func matchPattern(pattern, path string) ([]string, bool) {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(path, "/"))
}

// matchSegments matches a split path against a split pattern: "{…}" takes any
// non-empty segment as sent (returned in order), any other segment must be equal byte
// for byte.
func matchSegments(patternParts, pathParts []string) ([]string, bool) {
	if len(patternParts) != len(pathParts) {
		return nil, false
	}
	var parameters []string
	for i, part := range patternParts {
		switch {
		case strings.HasPrefix(part, "{"):
			if pathParts[i] == "" {
				return nil, false
			}
			parameters = append(parameters, pathParts[i])
		case part != pathParts[i]:
			return nil, false
		}
	}
	return parameters, true
}

// allowedMethods lists the methods a path takes, for a 405's Allow header.
func allowedMethods(path string) string {
	var methods []string
	for i := range routes {
		if _, ok := matchPattern(routes[i].pattern, path); ok {
			methods = append(methods, routes[i].method)
		}
	}
	return strings.Join(methods, ", ")
}

// Error is the body of every error answer: a stable code, the protocol's status number
// when the refusal is one (busy 200, request_too_old 208, …), and a message for people.
type Error struct {
	Error   string `json:"error"`
	Code    uint32 `json:"code,omitempty"`
	Message string `json:"message"`
	Primary string `json:"primary,omitempty"` // not_primary: the primary's binary address.
}

const contentTypeJSON = "application/json"

// codeInternal is the error code of a 500: the server's own failure (an answer it could
// not encode, a handler that panicked).
const codeInternal = "internal"

func writeJSON(ctx *fasthttp.RequestCtx, statusCode int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		statusCode, data = fasthttp.StatusInternalServerError,
			[]byte(`{"error":"`+codeInternal+`","message":"encoding the answer failed"}`)
	}
	ctx.SetStatusCode(statusCode)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(append(data, '\n'))
}

func writeError(ctx *fasthttp.RequestCtx, statusCode int, code, message string) {
	writeJSON(ctx, statusCode, Error{Error: code, Message: message})
}

// statusRefusal answers a request-level status (model.Status 200..299) that refused a
// request before or instead of its results, with the HTTP status it maps to.
func (r *request) statusRefusal(status model.Status) {
	statusCode := httpStatusOf(status)
	body := Error{Error: status.String(), Code: uint32(status), Message: statusMessages[status]}
	switch statusCode {
	case fasthttp.StatusTooManyRequests, fasthttp.StatusServiceUnavailable:
		retryAfter(r.ctx, 0)
	}
	if status == model.StatusNotPrimary && r.server.config.PrimaryAddress != nil {
		body.Primary = r.server.config.PrimaryAddress()
	}
	switch status {
	case model.StatusBusy:
		r.server.counters.busy.Add(1)
	case model.StatusRateLimited:
		r.server.counters.rateLimited.Add(1)
	}
	r.server.counters.refused.Add(1)
	writeJSON(r.ctx, statusCode, body)
}

// httpStatusOf maps a request status to HTTP: overload and unavailability to 429/503
// (with Retry-After), a client's mistakes to 4xx.
func httpStatusOf(status model.Status) int {
	switch status {
	case model.StatusRateLimited:
		return fasthttp.StatusTooManyRequests
	case model.StatusBusy, model.StatusNotPrimary, model.StatusShuttingDown,
		model.StatusLogUnavailable, model.StatusOutcomeUnknown:
		return fasthttp.StatusServiceUnavailable
	case model.StatusPermissionDenied:
		return fasthttp.StatusForbidden
	case model.StatusRequestTooOld:
		return fasthttp.StatusConflict
	case model.StatusRequestNumberReused:
		return fasthttp.StatusUnprocessableEntity
	case model.StatusAccountNotFound:
		return fasthttp.StatusNotFound
	case model.StatusInternalError:
		return fasthttp.StatusInternalServerError
	}
	return fasthttp.StatusBadRequest
}

var statusMessages = map[model.Status]string{
	model.StatusBusy:         "the server is at its bound of requests in flight; retry after Retry-After",
	model.StatusNotPrimary:   "this node does not take requests now; use the primary",
	model.StatusRateLimited:  "the client exceeded its configured rate; retry after Retry-After",
	model.StatusShuttingDown: "the server is stopping; retry elsewhere or later",
	model.StatusLogUnavailable: "the server cannot write its log now: not applied; retry " +
		"later or on the new primary",
	model.StatusOutcomeUnknown: "the server's log failed after the request was sequenced: " +
		"it may or may not be applied; retry with the same Idempotency-Key or ids",
	model.StatusRequestTooOld: "this Idempotency-Key was applied too long ago for its reply " +
		"to be kept; look the ids up",
	// Not "nothing applied": on a node of several shards only the shards that applied
	// the key refuse; the events for the others are applied (PROTOCOL.md section 7).
	model.StatusRequestNumberReused: "this Idempotency-Key was used for another request " +
		"(another body or route): refused; on a node of several shards the events for " +
		"shards that never applied this key were applied: look the ids up",
	model.StatusTooManyEvents:    "more events than the operation allows (8,189)",
	model.StatusEmptyRequest:     "no events",
	model.StatusAccountNotFound:  "no such account (or not one this client may read)",
	model.StatusInvalidFilter:    "the query's limit, order or time bounds are not valid",
	model.StatusInternalError:    "a server fault: nothing applied",
	model.StatusPermissionDenied: "the client's permissions do not allow this operation",
}

// HeaderIdempotencyKey names a request's exactly-once session and number
// ("SESSION:NUMBER"): a retry with the same key gets the original reply
// (Idempotency-Replayed: true), a different request under the same key is refused.
const (
	HeaderIdempotencyKey      = "Idempotency-Key"
	HeaderIdempotencyReplayed = "Idempotency-Replayed"
	// HeaderOp is the log position of an applied write (the reply's op).
	HeaderOp = "Sequent-Op"
)

// parseIdempotencyKey parses "SESSION:NUMBER".
func parseIdempotencyKey(key []byte) (uint64, uint64, bool) {
	sessionText, numberText, found := bytes.Cut(key, []byte{':'})
	if !found {
		return 0, 0, false
	}
	session, sessionOK := parseDecimal(sessionText, 64)
	number, numberOK := parseDecimal(numberText, 64)
	return session, number, sessionOK && numberOK && session != 0 && number != 0
}

// randomSession returns a random non-zero session id.
func randomSession() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("api: crypto/rand failed: " + err.Error()) // Never on Linux.
		}
		if session := binary.LittleEndian.Uint64(b[:]); session != 0 {
			return session
		}
	}
}

// writeAnswerHeaders marks an answer's position and whether it was replayed.
func (r *request) writeAnswerHeaders(reply *answer) {
	if reply.op != 0 {
		r.ctx.Response.Header.Set(HeaderOp, strconv.FormatUint(reply.op, 10))
	}
	if reply.duplicate {
		r.ctx.Response.Header.Set(HeaderIdempotencyReplayed, "true")
	}
}
