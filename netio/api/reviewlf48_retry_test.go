package api

import (
	"testing"

	"sequent/netio/jsonview"
)

// TestReviewlf48ResolveRetryAfterIDReusedElsewhere: README says a retry with the same
// Idempotency-Key and the same body gets the original reply, marked
// Idempotency-Replayed. A post without placement fields is applied (201) through the
// server's lookup of its pending id; then a transfer with the pending transfer's id is
// created on the other shard (ids are unique per shard only; the client may read both).
// The retry under the same key looks the pending id up again, finds two records and is
// answered 422 placement_field_missing, a refusal, although the first attempt applied the
// post (fixed: the transfer with the new id that resolves the pending id places it); a
// retry without the key answers exists, and a new post of it stays 422.
func TestReviewlf48ResolveRetryAfterIDReusedElsewhere(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	key := []string{HeaderIdempotencyKey, "78:1"}
	first := h.operator("POST", "/v1/transfers/10/post", `{"id":"20"}`, key...)
	h.expect(first, 201, "")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"1",`+
		`"credit_account_id":"2","amount":"5","ledger":1,"code":1}`), 201, "")
	again := h.operator("POST", "/v1/transfers/10/post", `{"id":"20"}`, key...)
	if again.code != first.code || string(again.body) != string(first.body) ||
		again.header.Get(HeaderIdempotencyReplayed) != "true" {
		t.Fatalf("retry under the same key: HTTP %d %s (replayed %q); the first attempt: "+
			"HTTP %d %s", again.code, again.body, again.header.Get(HeaderIdempotencyReplayed),
			first.code, first.body)
	}
	keyless := h.operator("POST", "/v1/transfers/10/post", `{"id":"20"}`)
	h.expect(keyless, 200, "")
	if result := decode[jsonview.Result](t, keyless); result.Status != "exists" {
		t.Fatalf("retry without the key: %s", keyless.body)
	}
	fresh := h.operator("POST", "/v1/transfers/10/post", `{"id":"21"}`)
	h.expect(fresh, 422, "")
	if result := decode[jsonview.Result](t, fresh); result.Status != "placement_field_missing" {
		t.Fatalf("a new post of the pending id two shards use: %s, want "+
			"placement_field_missing", fresh.body)
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "100" {
		t.Fatalf("account 102: %+v, want 100 posted once", payee)
	}
}
