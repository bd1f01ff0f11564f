package api

import (
	"strings"
	"testing"
)

// TestAPIQuery50EscapedArgumentNameIsRefused: the account listings read their query
// with fasthttp, which decodes an argument's name ("%6Cimit" is "limit"), so
// "?%6Cimit=1" served one record where a proxy rule or a log matching names as sent
// sees an unknown argument and the default limit. The operators' port refuses such a
// name since session 50 (netio/ops checkQueryAsSent); the listings must too (400
// bad_request), each name as sent, while a value's escapes are still decoded.
func TestAPIQuery50EscapedArgumentNameIsRefused(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	h.expect(h.operator("POST", "/v1/transfers",
		`[{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1},`+
			`{"id":"2","debit_account_id":"1","credit_account_id":"2","amount":"6","ledger":1,"code":1}]`), 200, "")
	for _, query := range []string{
		// Each was served before: the decoded name is a listing's argument.
		"%6Cimit=1",                      // limit
		"%6cimit=1",                      // limit, lowercase hex
		"limi%74=1",                      // the escape at the end of the name
		"order=oldest&%6Cimit=1",         // after a plain argument
		"%73ide=debits&limit=1",          // side, before a plain argument
		"limit=1&%63ode=1",               // code, the last argument
		"limit=1&%6F%72%64%65%72=oldest", // every letter escaped
		// Refused before as unknown names, now because escaped.
		"%=1",     // a malformed escape
		"%2561=1", // an escaped "%"
	} {
		for _, listing := range []string{"transfers", "balances"} {
			target := "/v1/accounts/1/" + listing + "?" + query
			code, _, body := review50RawSigned(t, h, "GET", target, "test")
			if code != 400 || !strings.Contains(string(body), `"bad_request"`) {
				t.Errorf("GET %s: HTTP %d %s, want 400 bad_request", target, code, body)
			}
		}
	}
	// A value's escapes are decoded as before: %31 is 1, %64ebits is debits.
	for _, query := range []string{"limit=%31", "side=%64ebits&limit=1", "order=ol%64est&limit=1"} {
		for _, listing := range []string{"transfers", "balances"} {
			target := "/v1/accounts/1/" + listing + "?" + query
			code, _, body := review50RawSigned(t, h, "GET", target, "test")
			if code != 200 || strings.Count(string(body), `"timestamp"`) != 1 {
				t.Errorf("GET %s: HTTP %d %s, want 200 and one record", target, code, body)
			}
		}
	}
}
