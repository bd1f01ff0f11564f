package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/api"
	"sequent/netio/jsonview"
)

// accountsOnShards returns the first count account ids (from 1) that hash placement puts
// on each of a node's two shards: [shard][0] … [shard][count-1].
func accountsOnShards(count int) [2][]uint64 {
	var found [2][]uint64
	for id := uint64(1); len(found[0]) < count || len(found[1]) < count; id++ {
		if shard := shardmap.Hashed(2).AccountShard(model.U128(id), 1); len(found[shard]) < count {
			found[shard] = append(found[shard], id)
		}
	}
	return found
}

// adminRisk runs `sequent admin risk ARGS` against the node's HTTP address and returns
// its output; the test fails when the command does.
func adminRisk(t *testing.T, httpAddress, token string, args ...string) string {
	t.Helper()
	output, err := run(t, append([]string{"admin", "--http", httpAddress, "--token", token,
		"risk"}, args...)...)
	if err != nil {
		t.Fatalf("sequent admin risk %v: %v\n%s", args, err, output)
	}
	return output
}

// TestRiskRulesAndAPIOnTwoShards runs `sequent serve --shards 2 --api` as a process:
// `sequent admin risk set` puts a ledger rule on both shards and an account rule on its
// account's shard (each shard's answer shown), `list` shows each rule once, and the
// rules judge the transfers of the JSON API wherever their debit account is: a
// cross-shard transfer above the maximum is refused with its explanation, one within it
// crosses and is found by its id, and a batch spanning both shards gets each event's
// own result in order. Setting the account rule again for an account on the other shard
// moves it (no copy is left where it was), and then refuses a transfer into that account
// from the other shard too (judged on the credit side), and `remove` clears both shards.
func TestRiskRulesAndAPIOnTwoShards(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("7c", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "admin"))
	apiAddress, httpAddress := freePort(t), freePort(t)
	startServer(t, data, freePort(t), "--shards", "2", "--keys", keys, "--api", apiAddress,
		"--http", httpAddress)
	raw, _ := hex.DecodeString(secret)
	c := &apiClient{t: t, base: "http://" + apiAddress, http: &http.Client{Timeout: 30 * time.Second},
		signer: &api.Signer{Client: 1, Key: 1, Secret: raw}}
	ids := accountsOnShards(2)
	payer, local, payee, payee2 := ids[0][0], ids[0][1], ids[1][0], ids[1][1]

	var accounts []string
	for _, id := range []uint64{payer, local, payee, payee2} {
		accounts = append(accounts, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1}`, id))
	}
	created := c.do("POST", "/v1/accounts", "["+strings.Join(accounts, ",")+"]")
	created.expect(t, "accounts on both shards", 200, "")
	if strings.Count(created.body, `"status":"ok"`) != 4 {
		t.Fatalf("accounts: %s", created.body)
	}

	admin := func(args ...string) string {
		t.Helper()
		return adminRisk(t, httpAddress, token, args...)
	}
	rulesFile := func(text string) string {
		path := filepath.Join(t.TempDir(), "rules.json")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	blockedRule := `{"id": 8, "kind": "blocked", "scope": "account", "account": "%d"}`
	set := admin("set", rulesFile(`{"rules": [{"id": 7, "kind": "max_amount", "scope": "ledger",
		"ledger": 1, "amount": "1000"}, `+fmt.Sprintf(blockedRule, payee2)+`]}`))
	want := "rule 7: ok (0) [shard 0: ok, shard 1: ok]\n" +
		"rule 8: ok (0) [shard 0: risk_rule_account_not_found, shard 1: ok]"
	if set != want {
		t.Fatalf("risk set on two shards:\n%s\nwant\n%s", set, want)
	}
	listed := admin("list")
	if !strings.HasSuffix(listed, "2 rules") || strings.Count(listed, `"id":7`) != 1 ||
		strings.Count(listed, `"id":8`) != 1 {
		t.Fatalf("risk list on two shards: %s", listed)
	}

	transfer := func(id, debit, credit uint64, amount int) string {
		return fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d",`+
			`"amount":"%d","ledger":1,"code":1}`, id, debit, credit, amount)
	}
	refused := c.do("POST", "/v1/transfers", transfer(10, payer, payee, 1001))
	refused.expect(t, "cross-shard transfer above the maximum", 422,
		`"status":"risk_amount_above_maximum","code":304`)
	if !strings.Contains(refused.body, `"rule":7`) || !strings.Contains(refused.body, `"limit":"1000"`) {
		t.Fatalf("refusal without its explanation: %s", refused.body)
	}
	c.do("POST", "/v1/transfers", transfer(11, payer, payee, 25)).
		expect(t, "cross-shard transfer", 201, `"status":"ok"`)
	var found jsonview.Transfer
	lookup := c.do("GET", "/v1/transfers/11", "")
	lookup.expect(t, "lookup of the cross-shard transfer", 200, "")
	if err := json.Unmarshal([]byte(lookup.body), &found); err != nil || found.Amount != "25" ||
		found.CreditAccountID != fmt.Sprint(payee) || found.DebitAccountID != fmt.Sprint(payer) {
		t.Fatalf("lookup: %v %s", err, lookup.body)
	}
	c.do("POST", "/v1/transfers/lookup", `{"ids":["10","11"]}`).expect(t, "lookup of both ids", 200, `"id":"11"`)

	// One batch, events on both shards: local on 0, local on 1 into the blocked account,
	// crossing 1 → 0, crossing 1 → 0 above the maximum (judged on shard 1).
	batch := c.do("POST", "/v1/transfers", "["+strings.Join([]string{
		transfer(20, payer, local, 5), transfer(21, payee, payee2, 5),
		transfer(22, payee, local, 3), transfer(23, payee, payer, 1001)}, ",")+"]")
	batch.expect(t, "batch across shards", 200, "")
	var results []jsonview.Result
	if err := json.Unmarshal([]byte(batch.body), &results); err != nil {
		t.Fatalf("batch: %v %s", err, batch.body)
	}
	wantResults := []struct{ id, status string }{{"20", "ok"},
		{"21", "risk_credit_account_blocked"}, {"22", "ok"}, {"23", "risk_amount_above_maximum"}}
	if len(results) != len(wantResults) { // Checked first: an empty list must fail too.
		t.Fatalf("batch results %s, want %v", batch.body, wantResults)
	}
	for i, result := range results {
		if result.ID != wantResults[i].id || result.Status != wantResults[i].status {
			t.Fatalf("batch results %s, want %v", batch.body, wantResults)
		}
	}
	var account jsonview.Account
	balance := c.do("GET", fmt.Sprintf("/v1/accounts/%d", local), "")
	if err := json.Unmarshal([]byte(balance.body), &account); err != nil || account.CreditsPosted != "8" {
		t.Fatalf("account %d after the batch: %v %s", local, err, balance.body)
	}

	// Rule 8 set again for an account of shard 0: shard 1 no longer blocks payee2.
	moved := admin("set", rulesFile("["+fmt.Sprintf(blockedRule, local)+"]"))
	if moved != "rule 8: ok (0) [shard 0: ok, shard 1: risk_rule_account_not_found]" {
		t.Fatalf("rule 8 moved: %s", moved)
	}
	if listed := admin("list"); strings.Count(listed, `"id":8`) != 1 ||
		!strings.Contains(listed, fmt.Sprintf(`"account":"%d"`, local)) {
		t.Fatalf("risk list after the move: %s", listed)
	}
	c.do("POST", "/v1/transfers", transfer(30, payee, payee2, 5)).
		expect(t, "into the account no longer blocked", 201, `"status":"ok"`)
	// Judged on the credit shard (rules version 5): the saga voids the debit, the client
	// gets the code as the transfer's result.
	c.do("POST", "/v1/transfers", transfer(31, payee, local, 5)).
		expect(t, "across into the newly blocked account", 422,
			`"status":"risk_credit_account_blocked"`)

	if removed := admin("remove", "7", "8"); removed != "rule 7: ok (0) [shard 0: ok, shard 1: ok]\n"+
		"rule 8: ok (0) [shard 0: ok, shard 1: risk_rule_not_found]" {
		t.Fatalf("risk remove: %s", removed)
	}
	if listed := admin("list"); listed != "0 rules" {
		t.Fatalf("risk list after remove: %s", listed)
	}
}
