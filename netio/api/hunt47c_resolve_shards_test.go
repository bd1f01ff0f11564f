package api

import (
	"testing"

	"sequent/netio/jsonview"
)

// TestHunt47cPostAndVoidOnTwoShards: on a node of several shards a post or void is
// routed by the debit account it names (PROTOCOL.md section 18), so the routes
// POST /v1/transfers/{id}/post and …/void take the pending transfer's debit_account_id
// (README's route table). Before, their body allowed only id, amount, user data and
// code: no pending transfer could be resolved through them on such a node (400 for a
// body naming the account, 422 placement_field_missing without it; since session 48 the
// server looks the pending transfer up then: TestResolveWithoutPlacementFields).
func TestHunt47cPostAndVoidOnTwoShards(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("101", "102") // Both on shard 1.
	for _, pending := range []string{"10", "11"} {
		h.expect(h.operator("POST", "/v1/transfers", `{"id":"`+pending+`","debit_account_id":"101",`+
			`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	}
	for _, step := range []struct {
		uri, body string
		code      int
		status    string
	}{{"/v1/transfers/10/post", `{"id":"21","debit_account_id":"101","amount":"60"}`, 201, "ok"},
		{"/v1/transfers/11/void", `{"id":"22","debit_account_id":"101","ledger":1}`, 201, "ok"}} {
		answer := h.operator("POST", step.uri, step.body)
		h.expect(answer, step.code, "")
		if result := decode[jsonview.Result](t, answer); result.Status != step.status {
			t.Fatalf("%s %s: %s, want %s", step.uri, step.body, answer.body, step.status)
		}
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "60" || payee.CreditsPending != "0" {
		t.Fatalf("account 102 after the post and the void: %+v", payee)
	}
}
