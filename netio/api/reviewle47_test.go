package api

import "testing"

// TestReviewle47GetTransferOfAnIDTwoShardsUse: transfer ids are unique per shard, not
// across shards (PROTOCOL.md section 18), so on a node of two shards one id can name a
// transfer on each, and a lookup of it lists both. GET /v1/transfers/{id} answers 404
// transfer_not_found ("no such id") whenever the lookup found other than one record:
// the id exists, twice, and the client is told it does not. (The same holds for GET
// /v1/accounts/{id} of a settlement account once both its copies exist.)
func TestReviewle47GetTransferOfAnIDTwoShardsUse(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"101","credit_account_id":"102","amount":"2","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers/lookup", `{"ids":["10"]}`), 200, "")
	if answer := h.operator("GET", "/v1/transfers/10", ""); answer.code == 404 {
		t.Fatalf("GET /v1/transfers/10 of an id both shards use: HTTP 404 %s", answer.body)
	}
}
