package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// review50RawSigned sends one request signed by the operator over the request target
// exactly as written, with host as its Host header, and returns the answer's status,
// its Link header and its body.
func review50RawSigned(t *testing.T, h *harness, method, target, host string) (int, string,
	[]byte) {
	t.Helper()
	header := http.Header{}
	if err := h.signer(operatorClient).Sign(header, method, target, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", h.server.Address(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n", method,
		target, host, headerLines(header))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	answer, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, target, host, err)
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(answer.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer.StatusCode, answer.Header.Get("Link"), body
}

// TestReview50APIEscapeTargetFasthttpCannotParse (review of apiescape50; a regression
// guard, held on main). The JSON API routes by httppath.AsSent, the request line's
// bytes, but reads a listing's query (limit, order, side, …) and builds its Link from
// fasthttp's parse of the target with the Host header. That parse fails for a Host
// fasthttp refuses ("h:x", "h\"; the Host is not signed) or an absolute-form authority
// it refuses ("http://h\/v1/…"), leaving the query empty and the path "/": were such a
// request routed by AsSent, the signed limit=1 would be served as the default 100, with
// a Link to "/?limit=100…". fasthttp's server refuses it before the handler (400
// bad_request, "malformed request"); this pins that.
func TestReview50APIEscapeTargetFasthttpCannotParse(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, id := range []string{"5", "6"} {
		h.expect(h.operator("POST", "/v1/transfers", `{"id":"`+id+
			`","debit_account_id":"1","credit_account_id":"2","amount":"7","ledger":1,"code":1}`),
			201, "")
	}
	const listing = "/v1/accounts/1/transfers?limit=1&order=oldest"
	code, link, body := review50RawSigned(t, h, "GET", listing, "test")
	var records []json.RawMessage
	if code != 200 || json.Unmarshal(body, &records) != nil || len(records) != 1 ||
		!strings.HasPrefix(link, "</v1/accounts/1/transfers?") {
		t.Fatalf("GET %s: HTTP %d, Link %q, %s; want 1 record and a Link to the next", listing,
			code, link, body)
	}
	for _, c := range []struct{ target, host string }{
		{listing, "h:x"},
		{listing, `h\`},
		{listing, "h:1:2"},
		{`http://h\` + listing, "test"},
		{"http://h:x" + listing, "test"},
	} {
		code, link, body := review50RawSigned(t, h, "GET", c.target, c.host)
		var e Error
		if code != 400 || json.Unmarshal(body, &e) != nil || e.Error != "bad_request" {
			t.Errorf("GET %s (Host %s): HTTP %d, Link %q, %s; want 400 bad_request", c.target,
				c.host, code, link, body)
		}
	}
}
