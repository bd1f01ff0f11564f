package api

import "testing"

// TestHunt49bPathIsRoutedAsSent: the server routes by the path exactly as sent (the bytes
// the signature covers), not by fasthttp's normalized path. That one decodes "%2F" into a
// segment separator and resolves "..", "." and "//", so "POST /v1/transfers/5%2Fpost" —
// to a gateway, a log reader or any RFC 3986 parser one segment "5%2Fpost" under
// /v1/transfers, a route that takes no POST — posted pending transfer 5, and
// ".../1%2F..%2F..%2Faccounts%2Flookup" read accounts: one request, two meanings, as a
// body with duplicate keys would be (checkKeys). Now such paths match no route: 405 on
// an {id} pattern of GET, 404 elsewhere, and nothing is posted; plain paths, with
// a query, are served as before.
func TestHunt49bPathIsRoutedAsSent(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"5","debit_account_id":"1","credit_account_id":"2","amount":"7","ledger":1,"code":1,"flags":2}`),
		201, "")
	h.expect(h.operator("POST", "/v1/transfers/5%2Fpost", `{"id":"6"}`), 405, "method_not_allowed")
	h.expect(h.operator("GET", "/v1/transfers/6", ""), 404, "transfer_not_found")
	for path, code := range map[string]int{"/v1/accounts%2Flookup": 404,
		"/v1/accounts/1%2F..%2F..%2Faccounts%2Flookup": 405, // GET /v1/accounts/{id}'s path.
		"/v1//accounts/lookup":                         404, "/v1/accounts/1/../lookup": 404, "/v1/./accounts/lookup": 404} {
		if r := h.operator("POST", path, `{"ids":["1"]}`); r.code != code {
			t.Fatalf("POST %s: HTTP %d, want %d: %s", path, r.code, code, r.body)
		}
	}
	h.expect(h.operator("POST", "/v1/transfers/5/post", `{"id":"6"}`), 201, "")
	h.expect(h.operator("GET", "/v1/accounts/1/transfers?limit=1&order=oldest", ""), 200, "")
	h.expect(h.operator("POST", "/v1/accounts/lookup?", `{"ids":["1"]}`), 200, "")
}
