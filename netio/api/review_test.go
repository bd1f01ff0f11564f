package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/netio/jsonview"
)

// TestMalformedNumbersAreRefused: ids and amounts are decimal strings (or 0x and hex),
// and any other spelling — sign, space, exponent, fraction, another base's prefix,
// underscores, more than 128 bits, a JSON number where a string is due — is a 400
// bad_request that applies nothing, never a 500 and never a silently different value.
// A leading zero is decimal: "010" moves ten. Before ParseUint128 was made strict,
// "010" moved 8 (octal) and "+1", "-0", "0b1", "0o1" and "1_0" were taken.
func TestMalformedNumbersAreRefused(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	transfer := func(id, amount string) string {
		return `{"id":"` + id + `","debit_account_id":"1","credit_account_id":"2","amount":` +
			amount + `,"ledger":1,"code":1}`
	}
	for i, amount := range []string{`"+1"`, `"-1"`, `"-0"`, `" 1"`, `"1 "`, `"1e3"`, `"1.5"`,
		`"0b1"`, `"0o1"`, `"1_0"`, `"0x"`, `"0x_1"`, `"340282366920938463463374607431768211456"`,
		`5`, `1e3`, `true`, `{}`} {
		id := "10" + strings.Repeat("0", i)
		h.expect(h.operator("POST", "/v1/transfers", transfer(id, amount)), 400, "bad_request")
	}
	for _, c := range []struct{ field, bad string }{{`"ledger":1`, `"ledger":-1`},
		{`"ledger":1`, `"ledger":4294967296`}, {`"ledger":1`, `"ledger":1.5`},
		{`"ledger":1`, `"ledger":"1"`}, {`"code":1`, `"code":65536`},
		{`"code":1`, `"code":1,"flags":-1`}} {
		body := strings.Replace(transfer("500", `"1"`), c.field, c.bad, 1)
		h.expect(h.operator("POST", "/v1/transfers", body), 400, "bad_request")
	}
	for _, id := range []string{"+1", "-1", "0b1", "1_0", "1e0", "%201", "0x"} {
		h.expect(h.operator("GET", "/v1/accounts/"+id, ""), 400, "bad_request")
		h.expect(h.operator("GET", "/v1/accounts/"+id+"/transfers", ""), 400, "bad_request")
		h.expect(h.operator("POST", "/v1/transfers/"+id+"/void", `{"id":"600"}`), 400, "bad_request")
	}
	h.expect(h.operator("POST", "/v1/accounts/lookup", `{"ids":["+1"]}`), 400, "bad_request")
	// Nothing of the above was applied: account 1 has no debits.
	account := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/1", ""))
	if account.DebitsPosted != "0" {
		t.Fatalf("a refused request moved money: %+v", account)
	}
	// A leading zero is decimal, as documented.
	h.expect(h.operator("POST", "/v1/transfers", transfer("700", `"010"`)), 201, "")
	if got := decode[jsonview.Transfer](t, h.operator("GET", "/v1/transfers/0700", "")); got.Amount != "10" {
		t.Fatalf(`amount "010" moved %s, want 10`, got.Amount)
	}
}

// TestNoReplayAtTheWindowsEdge: a request stamped a whole window ahead of the server's
// clock is accepted, and so is any request whose stamp is within the window of the
// server's clock — so its replay passes the clock check until the server's clock reaches
// stamp + window, which is twice the window after the first use. The nonce must still be
// remembered then. It was not: the cache forgot a nonce exactly 2 × window after its
// first use (and measured that on the monotonic clock while the window is checked on
// the wall clock, in milliseconds), so the replay at that instant was authenticated and
// served again. (A replayed write is still answered "exists" by the ledger's own
// idempotency; a read is served again.)
func TestNoReplayAtTheWindowsEdge(t *testing.T) {
	window := 10 * time.Second
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, func(c *Config) { c.ClockWindow = window; c.Now = clock })
	h.createAccounts("1", "2")
	start := clock()
	signer := h.signer(operatorClient)
	signer.Now = func() time.Time { return start.Add(window) } // A whole window ahead.
	request, err := http.NewRequest("GET", h.base+"/v1/accounts/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.Sign(request.Header, "GET", "/v1/accounts/1", nil); err != nil {
		t.Fatal(err)
	}
	h.expect(h.send(request.Clone(context.Background())), 200, "")
	for _, later := range []time.Duration{window, 2*window - time.Millisecond, 2 * window} {
		mu.Lock()
		now = start.Add(later)
		mu.Unlock()
		h.expect(h.send(request.Clone(context.Background())), 401, "nonce_replayed")
	}
	mu.Lock()
	now = start.Add(2*window + time.Millisecond)
	mu.Unlock()
	h.expect(h.send(request.Clone(context.Background())), 401, "timestamp_out_of_window")
}
