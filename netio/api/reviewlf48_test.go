package api

import (
	"strconv"
	"testing"
	"time"

	"sequent/core/shardmap"
	"sequent/netio/jsonview"
)

// TestReviewlf48ResolveRetryUnderIdempotencyKey: on a node of two shards a post that
// leaves out its placement fields, sent under an Idempotency-Key, is applied once; the
// same request sent again under the same key is answered from the node's cache (200,
// the original reply byte for byte, Idempotency-Replayed), never applied twice; once
// the key has fallen out of the session's window, request_too_old, still applied once.
func TestReviewlf48ResolveRetryUnderIdempotencyKey(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("101", "102")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	key := []string{HeaderIdempotencyKey, "77:5"}
	first := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","amount":"60"}`, key...)
	h.expect(first, 201, "")
	for i := 0; i < 3; i++ {
		again := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","amount":"60"}`,
			key...)
		if again.code != first.code || string(again.body) != string(first.body) ||
			again.header.Get(HeaderIdempotencyReplayed) != "true" {
			t.Fatalf("retry %d under the same key: HTTP %d %s (replayed %q), want %d %s",
				i, again.code, again.body, again.header.Get(HeaderIdempotencyReplayed),
				first.code, first.body)
		}
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "60" || payee.CreditsPending != "0" {
		t.Fatalf("account 102 after a post and its retries: %+v, want 60 posted", payee)
	}
	// Many later requests of the same session: the key's number falls out of the window.
	for n := 6; n < 6+300; n++ {
		h.expect(h.operator("POST", "/v1/transfers", `{"id":"`+strconv.Itoa(1000+n)+
			`","debit_account_id":"101","credit_account_id":"102","amount":"1","ledger":1,`+
			`"code":1}`, HeaderIdempotencyKey, "77:"+strconv.Itoa(n)), 201, "")
	}
	late := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","amount":"60"}`, key...)
	h.expect(late, 409, "request_too_old")
	payee = decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "360" {
		t.Fatalf("account 102 after a late retry: %+v, want 360 posted (the post's 60 "+
			"once and the 300 transfers of 1)", payee)
	}
}

// TestReviewlf48ResolveOwnership: a client that may not move a pending transfer's
// accounts, and may not read them, gets the same answer whether the pending id exists or
// not (no existence oracle through the server's lookup), and moves nothing.
func TestReviewlf48ResolveOwnership(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("101", "102")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	plain := h.signer(plainClient)
	existing := h.do(plain, "POST", "/v1/transfers/10/post", `{"id":"20"}`)
	missing := h.do(plain, "POST", "/v1/transfers/11/post", `{"id":"21"}`)
	if existing.code != missing.code ||
		decode[jsonview.Result](t, existing).Status != decode[jsonview.Result](t, missing).Status {
		t.Fatalf("existing %d %s, missing %d %s", existing.code, existing.body,
			missing.code, missing.body)
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "0" || payee.CreditsPending != "100" {
		t.Fatalf("account 102: %+v", payee)
	}
}

// TestReviewlf48ResolveChargedOnce: a post without placement fields costs the client one
// request of its rate limit, though the server sends it to the node, looks the pending
// transfer up and sends it again (doc.go: neither is charged again). The limited client
// has 1 request per second; the clock is frozen and moved by a second per request.
func TestReviewlf48ResolveChargedOnce(t *testing.T) {
	h := nodeHarness(t, nil)
	h.clock.freeze()
	limited := h.signer(limitedClient)
	step := func(method, uri, body string, code int) {
		t.Helper()
		h.clock.advance(time.Second)
		h.expect(h.do(limited, method, uri, body), code, "")
	}
	step("POST", "/v1/accounts", `[{"id":"101","ledger":1,"code":1,"flags":2},`+
		`{"id":"102","ledger":1,"code":1,"flags":2}]`, 200)
	h.createAccounts("103")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"9","debit_account_id":"103",`+
		`"credit_account_id":"101","amount":"100","ledger":1,"code":1}`), 201, "")
	step("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`, 201)
	step("POST", "/v1/transfers/10/post", `{"id":"20"}`, 201)
}

// TestReviewlf48ResolveKeepsTheFieldGiven: under ledger placement a post naming a debit
// account but no ledger is refused by the node and placed by the lookup, which fills
// the ledger only: the debit account the body names is kept, and one that is not the
// pending transfer's is refused as such, not replaced by the pending transfer's.
func TestReviewlf48ResolveKeepsTheFieldGiven(t *testing.T) {
	placement := &shardmap.Map{Shards: 2, Placement: shardmap.PlacementLedger,
		Ledgers: []shardmap.LedgerEntry{{Ledger: 1, Shard: 0}, {Ledger: 2, Shard: 1}}}
	h := nodeHarnessOn(t, placement, nil)
	h.expect(h.operator("POST", "/v1/accounts", `[{"id":"1","ledger":2,"code":1,"flags":8},`+
		`{"id":"2","ledger":2,"code":1},{"id":"3","ledger":2,"code":1}]`), 200, "")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"2",`+
		`"credit_account_id":"1","amount":"100","ledger":2,"code":1,"flags":2}`), 201, "")
	answer := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","debit_account_id":"3"}`)
	h.expect(answer, 422, "")
	if result := decode[jsonview.Result](t, answer); result.Status == "ok" ||
		result.Status == "placement_field_missing" {
		t.Fatalf("a post naming another debit account: %s", answer.body)
	}
	if payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/1", "")); payee.CreditsPosted != "0" {
		t.Fatalf("account 1 after a refused post: %+v", payee)
	}
}
