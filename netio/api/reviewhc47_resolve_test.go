package api

import (
	"testing"

	"sequent/core/shardmap"
	"sequent/netio/jsonview"
)

// TestReviewhc47ResolveFieldsOnTwoShards: the post and void routes' debit_account_id and
// ledger (hunt47c) give a client nothing it did not have: they only place the request,
// and the core compares them with the pending transfer's. On a node of two shards (ids
// below 100 on shard 0): a debit account of the other shard answers
// pending_transfer_not_found (the request reached the shard without the transfer); of
// the right shard but not the pending transfer's, pending_transfer_has_different_debit_
// account_id; a ledger that is not the pending transfer's, pending_transfer_has_
// different_ledger (the ledger is passed through: TestHunt47cPostAndVoidOnTwoShards
// passes with the handler dropping it); a client that is neither payer nor payee,
// pending_transfer_not_owned whatever it names; 2^128-1 (not a system id) is compared
// like any id, a system id (2^127) is id_reserved; ids and ledgers in JSON's other shapes,
// 400; and none of these moves money: the post that follows moves the pending amount
// once.
func TestReviewhc47ResolveFieldsOnTwoShards(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "101", "102") // 1 on shard 0; 101, 102 on shard 1.
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"101",`+
		`"credit_account_id":"102","amount":"100","ledger":1,"code":1,"flags":2}`), 201, "")
	plain := h.signer(plainClient)
	for _, step := range []struct {
		operator bool
		body     string
		code     int
		status   string
	}{
		{true, `{"id":"20","debit_account_id":"1"}`, 422, "pending_transfer_not_found"},
		{true, `{"id":"21","debit_account_id":"102"}`, 422, "pending_transfer_has_different_debit_account_id"},
		{true, `{"id":"22","debit_account_id":"101","ledger":2}`, 422, "pending_transfer_has_different_ledger"},
		{true, `{"id":"23","debit_account_id":"max"}`, 422, "pending_transfer_has_different_debit_account_id"},
		{true, `{"id":"31","debit_account_id":"0x80000000000000000000000000000000"}`, 422, "id_reserved"},
		{false, `{"id":"24","debit_account_id":"101"}`, 422, "pending_transfer_not_owned"},
		{false, `{"id":"25","debit_account_id":"101","ledger":2}`, 422, "pending_transfer_not_owned"},
		{true, `{"id":"26","debit_account_id":101}`, 400, ""},
		{true, `{"id":"27","debit_account_id":"101","ledger":"1"}`, 400, ""},
		{true, `{"id":"28","debit_account_id":"101","ledger":-1}`, 400, ""},
		{true, `{"id":"29","debit_account_id":"101","ledger":4294967296}`, 400, ""},
	} {
		signer := plain
		if step.operator {
			signer = h.signer(operatorClient)
		}
		answer := h.do(signer, "POST", "/v1/transfers/10/post", step.body)
		if answer.code != step.code {
			t.Fatalf("%s: HTTP %d, want %d: %s", step.body, answer.code, step.code, answer.body)
		}
		if step.status == "" {
			continue
		}
		if result := decode[jsonview.Result](t, answer); result.Status != step.status {
			t.Fatalf("%s: %s, want %s", step.body, answer.body, step.status)
		}
	}
	payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "0" || payee.CreditsPending != "100" {
		t.Fatalf("account 102 after refused posts: %+v", payee)
	}
	h.expect(h.operator("POST", "/v1/transfers/10/post", `{"id":"30","debit_account_id":"101","ledger":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers/10/post", `{"id":"30","debit_account_id":"101","ledger":1}`), 200, "")
	payee = decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/102", ""))
	if payee.CreditsPosted != "100" || payee.CreditsPending != "0" {
		t.Fatalf("account 102 after the post and its retry: %+v", payee)
	}
}

// TestReviewhc47ResolveUnderLedgerPlacement: on a node placing accounts by ledger, a post
// or void goes to the shard of the ledger it names (PROTOCOL.md section 18), so README's
// route table says the body needs the pending transfer's ledger there (naming only the
// debit account was 422 placement_field_missing until session 48, which looks the
// pending transfer up: TestResolveWithoutPlacementFields); the ledger of another shard reaches a
// shard without the transfer (pending_transfer_not_found); its own ledger posts it.
func TestReviewhc47ResolveUnderLedgerPlacement(t *testing.T) {
	placement := &shardmap.Map{Shards: 2, Placement: shardmap.PlacementLedger,
		Ledgers: []shardmap.LedgerEntry{{Ledger: 1, Shard: 0}, {Ledger: 2, Shard: 1}}}
	h := nodeHarnessOn(t, placement, nil)
	h.expect(h.operator("POST", "/v1/accounts", `[{"id":"1","ledger":2,"code":1,"flags":8},`+
		`{"id":"2","ledger":2,"code":1}]`), 200, "")
	h.expect(h.operator("POST", "/v1/transfers", `{"id":"10","debit_account_id":"2",`+
		`"credit_account_id":"1","amount":"100","ledger":2,"code":1,"flags":2}`), 201, "")
	for _, step := range []struct {
		body   string
		code   int
		status string
	}{{`{"id":"21","debit_account_id":"2","ledger":1}`, 422, "pending_transfer_not_found"},
		{`{"id":"22","ledger":2,"amount":"60"}`, 201, "ok"}} {
		answer := h.operator("POST", "/v1/transfers/10/post", step.body)
		h.expect(answer, step.code, "")
		if result := decode[jsonview.Result](t, answer); result.Status != step.status {
			t.Fatalf("%s: %s, want %s", step.body, answer.body, step.status)
		}
	}
	if payee := decode[jsonview.Account](t, h.operator("GET", "/v1/accounts/1", "")); payee.CreditsPosted != "60" ||
		payee.CreditsPending != "0" {
		t.Fatalf("account 1 after the post: %+v", payee)
	}
}
