package api

import (
	"strings"
	"testing"
)

// TestReview50APIEscapeRepeatedQueryArgument (review of apiescape50; claim: a listing's
// query says two things). The API routes a path as sent so that a proxy, a firewall
// rule or a log reads the request the server serves, and refuses a JSON key given twice
// (checkKeys: encoding/json keeps the last, a proxy reads the first); the operators'
// port takes its one query argument only once (queryArguments). The account listings
// read their query (limit, order, before, after, side, code) with fasthttp's VisitAll,
// which visits every repeat (its keys decoded: "%6Cimit" is "limit"), and kept the last:
// "?side=debits&side=credits" served the credits, where a reader of the first
// (fasthttp's own Peek, net/http's Get, most gateways) sees the debits. A repeated
// argument must be refused (400 bad_request) as a repeated key is.
func TestReview50APIEscapeRepeatedQueryArgument(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1")
	for _, query := range []string{
		"limit=1&limit=2",
		"side=debits&side=credits",
		"order=oldest&order=newest",
		"code=1&code=2",
		"before=5&before=9",
		"after=5&after=9",
		"limit=1&%6Cimit=2",
	} {
		for _, listing := range []string{"transfers", "balances"} {
			path := "/v1/accounts/1/" + listing + "?" + query
			if r := h.operator("GET", path, ""); r.code != 400 || r.errorCode(t) != "bad_request" {
				t.Errorf("GET %s: HTTP %d %s, want 400 bad_request", path, r.code, r.body)
			}
		}
	}
	h.expect(h.operator("GET", "/v1/accounts/1/transfers?limit=1&side=debits&code=1", ""), 200, "")
}

// TestReview50APIEscapeFragmentInAQuery (review of apiescape50; claim: a listing read
// part of its signed query only). A request target has no fragment (RFC 9112), so the
// API routes a "#" as part of the path (README), and a proxy or log may read one in the
// query as part of it too; fasthttp cuts the query at "#" and drops the rest, so
// "?side=debits#&side=credits", signed whole, served the debits where a reader of the
// whole query that keeps the last argument sees the credits, and "?limit=1#x" served a
// limit its reader may read as "1#x". A "#" in a listing's query is refused (400
// bad_request); no client sends one (curl and net/http cut a URL's fragment off).
func TestReview50APIEscapeFragmentInAQuery(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1")
	for _, query := range []string{"side=debits#&side=credits", "limit=1#x", "limit=1&#", "#limit=1"} {
		for _, listing := range []string{"transfers", "balances"} {
			target := "/v1/accounts/1/" + listing + "?" + query
			code, _, body := review50RawSigned(t, h, "GET", target, "test")
			if code != 400 || !strings.Contains(string(body), `"bad_request"`) {
				t.Errorf("GET %s: HTTP %d %s, want 400 bad_request", target, code, body)
			}
		}
	}
	const plain = "/v1/accounts/1/transfers?limit=1"
	if code, _, body := review50RawSigned(t, h, "GET", plain, "test"); code != 200 {
		t.Fatalf("GET %s: HTTP %d %s", plain, code, body)
	}
}
