package api

import (
	"testing"

	"sequent/core/shardmap"
	"sequent/netio/jsonview"
)

// TestResolveWithoutPlacementFields: on a node of several shards a post or void whose
// body leaves out the pending transfer's debit_account_id (ledger placement: its ledger)
// is resolved: the server looks the pending transfer up and routes by what it finds. It
// was refused 422 placement_field_missing. A pending id not found, or found on two shards
// (a transfer id each uses), keeps that answer.
func TestResolveWithoutPlacementFields(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	pending := func(id, debit, credit string) {
		h.expect(h.operator("POST", "/v1/transfers", `{"id":"`+id+`","debit_account_id":"`+
			debit+`","credit_account_id":"`+credit+`","amount":"100","ledger":1,"code":1,`+
			`"flags":2}`), 201, "")
	}
	pending("10", "101", "102")
	pending("11", "101", "102")
	pending("12", "1", "2")
	pending("12", "101", "102") // The same id on the other shard.
	for _, step := range []struct {
		uri, body string
		code      int
		status    string
	}{{"/v1/transfers/10/post", `{"id":"20","amount":"60"}`, 201, "ok"},
		{"/v1/transfers/10/post", `{"id":"20","amount":"60"}`, 200, "exists"},
		{"/v1/transfers/11/void", `{"id":"21"}`, 201, "ok"},
		{"/v1/transfers/99/post", `{"id":"22"}`, 422, "placement_field_missing"},
		{"/v1/transfers/12/void", `{"id":"23"}`, 422, "placement_field_missing"}} {
		answer := h.operator("POST", step.uri, step.body)
		h.expect(answer, step.code, "")
		if result := decode[jsonview.Result](t, answer); result.Status != step.status {
			t.Fatalf("%s %s: %s, want %s", step.uri, step.body, answer.body, step.status)
		}
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "60" || payee.CreditsPending != "100" {
		t.Fatalf("account 102: %+v, want 60 posted (10) and 100 pending (12)", payee)
	}

	// Ledger placement: the debit account alone does not place it, the ledger found does.
	placement := &shardmap.Map{Shards: 2, Placement: shardmap.PlacementLedger,
		Ledgers: []shardmap.LedgerEntry{{Ledger: 1, Shard: 0}, {Ledger: 2, Shard: 1}}}
	h = nodeHarnessOn(t, placement, nil)
	h.expect(h.operator("POST", "/v1/accounts", `[{"id":"1","ledger":2,"code":1,"flags":8},`+
		`{"id":"2","ledger":2,"code":1}]`), 200, "")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"2",`+
		`"credit_account_id":"1","amount":"100","ledger":2,"code":1,"flags":2}`), 201, "")
	answer := h.operator("POST", "/v1/transfers/10/post", `{"id":"20","debit_account_id":"2"}`)
	h.expect(answer, 201, "")
	if payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/1", "")); payee.CreditsPosted != "100" {
		t.Fatalf("ledger placement: account 1 after the post: %+v", payee)
	}
}
