package api

import "testing"

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
