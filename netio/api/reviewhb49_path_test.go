package api

import "testing"

// TestReviewhb49EncodedSlashInAnIDSegment pins what README's route paragraph says of a
// path whose {id} segment holds an encoded slash: the segment is one id ("1/../lookup"),
// so a method its route does not take answers 405 with that route's Allow (GET), and the
// route's own method reaches the handler, which refuses the id (400 bad_request, not a
// 404: the path matched a route). Upper-case and lower-case escapes read alike. Since
// session 50 an {id} is taken as sent, nothing decoded: "%31" is no number either (400;
// TestAPIEscape50PathIsMatchedAsSent), where it was read as id 1.
func TestReviewhb49EncodedSlashInAnIDSegment(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, path := range []string{"/v1/accounts/1%2F..%2Flookup", "/v1/accounts/1%2f..%2flookup"} {
		r := h.operator("POST", path, `{"ids":["1"]}`)
		h.expect(r, 405, "method_not_allowed")
		if allow := r.header.Get("Allow"); allow != "GET" {
			t.Fatalf("POST %s: Allow %q, want GET", path, allow)
		}
		h.expect(h.operator("GET", path, ""), 400, "bad_request")
	}
	h.expect(h.operator("GET", "/v1/accounts/%31", ""), 400, "bad_request")
	h.expect(h.operator("GET", "/v1/accounts/1", ""), 200, "")
	h.expect(h.operator("GET", "/v1/accounts/1/", ""), 404, "not_found")
}
