package api

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// apiEscape50Bodies holds, per route pattern, a body its method would take, with ids that
// the test then finds untouched: a request an escape kept from its route must do nothing.
var apiEscape50Bodies = map[string]string{
	"/v1/accounts":            `[{"id":"10","ledger":1,"code":1,"flags":8}]`,
	"/v1/accounts/lookup":     `{"ids":["1"]}`,
	"/v1/transfers":           `{"id":"11","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`,
	"/v1/transfers/lookup":    `{"ids":["5"]}`,
	"/v1/transfers/{id}/post": `{"id":"6"}`,
	"/v1/transfers/{id}/void": `{"id":"7"}`,
	"/v1/conversions":         `{}`,
}

// apiEscape50Path writes a route's pattern with ids (account 1, pending transfer 5) and
// with segment escaped (-1: none) by escape.
func apiEscape50Path(pattern string, segment int, escape func(string) string) string {
	parts := strings.Split(pattern, "/")
	for i, part := range parts {
		if part == "{id}" {
			part = "1"
			if strings.HasPrefix(pattern, "/v1/transfers/") {
				part = "5"
			}
		}
		if i == segment {
			part = escape(part)
		}
		parts[i] = part
	}
	return strings.Join(parts, "/")
}

// TestAPIEscape50PathIsMatchedAsSent: the API routes by the path as sent but decoded each
// segment before matching it, so "POST /v1/transfers/5/%70ost" posted pending transfer 5
// and "GET /v1/%61ccounts/1" read account 1: a proxy or firewall rule matching the raw
// path ("path_beg /v1/transfers/", a rule on "/post") saw another path than the one
// served. Now no segment is decoded: a route's fixed word must be sent byte for byte, an
// escape in one is no route (404 not_found, the very answer of an unknown path, before
// authentication), and an {id} segment is the id as sent, so "%31" is no number (400
// bad_request, as any id that is not decimal or 0x hexadecimal). Every route, with each
// of its segments escaped in turn (first byte upper-case hex, last byte lower-case hex,
// the whole segment); then nothing those requests would have done is found done.
func TestAPIEscape50PathIsMatchedAsSent(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"5","debit_account_id":"1","credit_account_id":"2","amount":"7","ledger":1,"code":1,"flags":2}`),
		201, "")
	unknown := h.operator("GET", "/v1/no-such-route", "")
	h.expect(unknown, 404, "not_found")

	escapes := []func(string) string{
		func(s string) string { return fmt.Sprintf("%%%02X", s[0]) + s[1:] },
		func(s string) string { return s[:len(s)-1] + fmt.Sprintf("%%%02x", s[len(s)-1]) },
		func(s string) string {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				fmt.Fprintf(&b, "%%%02X", s[i])
			}
			return b.String()
		},
	}
	tried := 0
	for _, route := range routes {
		body := apiEscape50Bodies[route.pattern]
		parts := strings.Split(route.pattern, "/")
		for segment := 1; segment < len(parts); segment++ {
			for _, escape := range escapes {
				path := apiEscape50Path(route.pattern, segment, escape)
				tried++
				if parts[segment] == "{id}" {
					r := h.operator(route.method, path, body)
					if r.code != 400 || r.errorCode(t) != "bad_request" ||
						!bytes.Contains(r.body, []byte("is not an unsigned 128-bit number")) {
						t.Errorf("%s %s: HTTP %d %s, want 400 bad_request", route.method, path, r.code, r.body)
					}
					continue
				}
				// Answered as the same path with an unknown word there: 404 not_found (an
				// unknown route's very body) or, where the path has an {id}'s shape, that
				// route's 405; never the route itself. Unsigned alike: before authentication.
				word := apiEscape50Path(route.pattern, segment, func(string) string { return "x" })
				for _, signer := range []*Signer{h.signer(operatorClient), nil} {
					r, want := h.do(signer, route.method, path, body), h.do(signer, route.method, word, body)
					if r.code != want.code || (r.code != 404 && r.code != 405) ||
						!bytes.Equal(r.body, want.body) || r.header.Get("Allow") != want.header.Get("Allow") {
						t.Errorf("%s %s (signed %v): HTTP %d %s, want %d %s as %s", route.method, path,
							signer != nil, r.code, r.body, want.code, want.body, word)
					}
					if r.code == 404 && !bytes.Equal(r.body, unknown.body) {
						t.Errorf("%s %s: 404 %s, want an unknown route's %s", route.method, path, r.body, unknown.body)
					}
				}
			}
		}
	}
	if tried < 3*len(routes)*2 {
		t.Fatalf("%d escaped paths tried for %d routes", tried, len(routes))
	}
	h.expect(h.operator("GET", "/v1/accounts/10", ""), 404, "account_not_found")
	h.expect(h.operator("GET", "/v1/transfers/11", ""), 404, "transfer_not_found")
	h.expect(h.operator("GET", "/v1/transfers/6", ""), 404, "transfer_not_found")
	h.expect(h.operator("GET", "/v1/transfers/7", ""), 404, "transfer_not_found")
	// Every route as plainly written is served (transfer 5 still pending).
	h.expect(h.operator("GET", "/v1/accounts/1", ""), 200, "")
	h.expect(h.operator("GET", "/v1/accounts/0x1/balances", ""), 200, "")
	h.expect(h.operator("POST", "/v1/transfers/5/post", `{"id":"6"}`), 201, "")
}
