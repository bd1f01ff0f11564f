package api

import (
	"testing"

	"sequent/netio/jsonview"
)

// TestResolvePlacedOnlyByItsOwnRetry: a post without placement fields whose pending id
// two shards use is placed only by a single transfer with the new id that resolves that
// pending id (a retry of one applied, placePending). A transfer with the new id that
// resolves nothing (here a plain one on the other shard), or two posts with the new id,
// one on each shard (either could be the one retried), keep 422
// placement_field_missing: neither says which pending transfer the client means. Without
// the test of the record's pending id the plain transfer routed the post to its shard
// (refused there as a different transfer); counting only "none" as ambiguous took the
// last of the two posts.
func TestResolvePlacedOnlyByItsOwnRetry(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	create := func(body string) {
		h.expect(h.operator("POST", "/v1/transfers", body), 201, "")
	}
	create(`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"100",` +
		`"ledger":1,"code":1,"flags":2}`)
	create(`{"id":"10","debit_account_id":"101","credit_account_id":"102","amount":"100",` +
		`"ledger":1,"code":1,"flags":2}`)
	create(`{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":"5",` +
		`"ledger":1,"code":1}`)
	refused := func(what, body string) {
		t.Helper()
		answer := h.operator("POST", "/v1/transfers/10/post", body)
		h.expect(answer, 422, "")
		if result := decode[jsonview.Result](t, answer); result.Status != "placement_field_missing" {
			t.Fatalf("%s: %s, want placement_field_missing", what, answer.body)
		}
	}
	refused("the new id names a plain transfer on shard 0", `{"id":"30"}`)

	h.expect(h.operator("POST", "/v1/transfers/10/post",
		`{"id":"40","amount":"10","debit_account_id":"1"}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers/10/post",
		`{"id":"40","amount":"10","debit_account_id":"101"}`), 201, "")
	refused("a post with the new id on each shard", `{"id":"40","amount":"10"}`)
}

// TestResolveKeepsTheLedgerGiven: on a node placing by account a post naming a ledger
// but no debit account is refused by the node and placed by the lookup, which fills the
// debit account only: a ledger that is not the pending transfer's is refused as such,
// not replaced by the pending transfer's (TestReviewlf48ResolveKeepsTheFieldGiven's
// counterpart for the ledger; with the ledger always taken from the record the post
// was applied).
func TestResolveKeepsTheLedgerGiven(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("101", "102") // On shard 1.
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	answer := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","ledger":2}`)
	h.expect(answer, 422, "")
	if result := decode[jsonview.Result](t, answer); result.Status == "ok" ||
		result.Status == "placement_field_missing" {
		t.Fatalf("a post naming another ledger: %s", answer.body)
	}
	if payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", "")); payee.CreditsPosted != "0" {
		t.Fatalf("account 102 after a refused post: %+v", payee)
	}
}
