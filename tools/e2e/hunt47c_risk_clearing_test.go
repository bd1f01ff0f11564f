package e2e

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hunt47cClient signs the JSON API's requests from README "Signing a request" alone
// (not netio/api's signer, so that a signer written from the document is what runs):
// version 2, nine lines joined by "\n", HMAC-SHA256 in lowercase hex.
type hunt47cClient struct {
	t      *testing.T
	base   string
	client uint64
	key    uint32
	secret []byte
	http   *http.Client
}

type hunt47cAnswer struct {
	code   int
	header http.Header
	body   string
}

// do sends one signed request; idempotencyKey "" sends none.
func (c *hunt47cClient) do(method, uri, body, idempotencyKey string) hunt47cAnswer {
	c.t.Helper()
	answer, err := c.send(method, uri, body, idempotencyKey)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, uri, err)
	}
	return answer
}

// send is do without failing the test (for other goroutines than the test's).
func (c *hunt47cClient) send(method, uri, body, idempotencyKey string) (hunt47cAnswer, error) {
	request, err := http.NewRequest(method, c.base+uri, strings.NewReader(body))
	if err != nil {
		return hunt47cAnswer{}, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return hunt47cAnswer{}, err
	}
	timestamp := strconv.FormatInt(time.Now().UnixMilli(), 10)
	bodyHash := sha256.Sum256([]byte(body))
	lines := []string{"SEQUENT-API-2", method, uri, strconv.FormatUint(c.client, 10),
		strconv.FormatUint(uint64(c.key), 10), timestamp, hex.EncodeToString(nonce),
		hex.EncodeToString(bodyHash[:]), idempotencyKey}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(strings.Join(lines, "\n")))
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Sequent-Client", lines[3])
	request.Header.Set("Sequent-Key", lines[4])
	request.Header.Set("Sequent-Timestamp", timestamp)
	request.Header.Set("Sequent-Nonce", lines[6])
	request.Header.Set("Sequent-Signature-Version", "2")
	request.Header.Set("Sequent-Signature", hex.EncodeToString(mac.Sum(nil)))
	if idempotencyKey != "" {
		request.Header.Set("Idempotency-Key", idempotencyKey)
	}
	answer, err := c.http.Do(request)
	if err != nil {
		return hunt47cAnswer{}, err
	}
	defer answer.Body.Close()
	read, err := io.ReadAll(io.LimitReader(answer.Body, 1<<20))
	if err != nil {
		return hunt47cAnswer{}, err
	}
	return hunt47cAnswer{code: answer.StatusCode, header: answer.Header, body: string(read)}, nil
}

// expect checks the status and that the body holds every part.
func (a hunt47cAnswer) expect(t *testing.T, what string, code int, parts ...string) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: HTTP %d %s, want %d with %q", what, a.code, a.body, code, parts)
	}
	for _, part := range parts {
		if !strings.Contains(a.body, part) {
			t.Fatalf("%s: HTTP %d %s, want %d with %q", what, a.code, a.body, code, parts)
		}
	}
}

// hunt47cTransfer is a transfer's JSON on ledger 1.
func hunt47cTransfer(id, debit, credit, amount uint64) string {
	return fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d",`+
		`"amount":"%d","ledger":1,"code":1}`, id, debit, credit, amount)
}

// hunt47cServer starts one `sequent serve` (extra flags appended) with an operator
// client 1 that may administer, and returns the API client, the process, the operators'
// address and the admin token.
func hunt47cServer(t *testing.T, extra ...string) (*hunt47cClient, *server, string, string) {
	t.Helper()
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("4c", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "admin"),
		keyClient(2, hunt47cSecret2, "read", "transfer"))
	apiAddress, httpAddress := freePort(t), freePort(t)
	s := startServer(t, data, freePort(t), append([]string{"--keys", keys, "--api", apiAddress,
		"--http", httpAddress}, extra...)...)
	raw, _ := hex.DecodeString(secret)
	return &hunt47cClient{t: t, base: "http://" + apiAddress, client: 1, key: 1, secret: raw,
		http: &http.Client{Timeout: 30 * time.Second}}, s, httpAddress, token
}

// hunt47cSecret2 is the secret of client 2, which holds no operator scope.
const hunt47cSecret2 = "2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d"

// as returns a client of the same server signing as client 2.
func (c *hunt47cClient) asClient2() *hunt47cClient {
	raw, _ := hex.DecodeString(hunt47cSecret2)
	return &hunt47cClient{t: c.t, base: c.base, client: 2, key: 1, secret: raw, http: c.http}
}

func hunt47cRulesFile(t *testing.T, rules ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, []byte(`{"rules": [`+strings.Join(rules, ",")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHunt47cRiskAndClearingOneShard checks README "Risk rules", "Currency conversion"
// and "Settlement netting" against one `sequent serve --api` process, with a signer
// written from the README: a velocity limit lets the transfer that reaches it through
// and refuses the one past it (422, the rule, limit and current value), a count limit
// likewise; a refused id answers id_already_failed; the windows survive a SIGKILL and
// replay exactly; setting a rule again empties its counters; cooling-off at its amount
// and one past it; a conversion retried under its Idempotency-Key (the original reply)
// and without one (both legs exists, 200); a refused conversion retried with the same
// ids after its cause is fixed (not applied), one a rule refuses (its leg explains
// itself), and the Idempotency-Key's reply again after a SIGKILL; the settlement
// endpoint's net per partner, with a pending transfer in flight, and money conserved
// between two partners; a rule set while a stream of transfers flows (ok, then only
// refusals); holds: a client without the operator scope may not post its own, may void
// it, a retry names no rule, and a hold sent pending expires at its timeout.
func TestHunt47cRiskAndClearingOneShard(t *testing.T) {
	c, s, httpAddress, token := hunt47cServer(t)
	// Ledger 1: 1, 2, 3, the partners 50 and 60, source liquidity 90; ledger 2: the
	// payee 4 and the target liquidity 91 (debits limited by its credits).
	c.do("POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1},{"id":"2","ledger":1,"code":1},`+
		`{"id":"3","ledger":1,"code":1},{"id":"50","ledger":1,"code":1},{"id":"60","ledger":1,"code":1},`+
		`{"id":"90","ledger":1,"code":1},{"id":"4","ledger":2,"code":1},{"id":"91","ledger":2,"code":1,"flags":2},`+
		`{"id":"92","ledger":2,"code":1}]`, "").expect(t, "accounts", 200)

	// Conversions: 10,000 cents at 0.9234 is 9,234 target cents.
	c.do("POST", "/v1/transfers", `{"id":"700","debit_account_id":"92","credit_account_id":"91",`+
		`"amount":"10000","ledger":2,"code":1}`, "").expect(t, "liquidity", 201, `"status":"ok"`)
	conversion := func(id uint64, amount uint64) string {
		return fmt.Sprintf(`{"id":"%d","payer":"2","payee":"4","source_liquidity":"90",`+
			`"target_liquidity":"91","source_ledger":1,"target_ledger":2,"source_scale":2,`+
			`"target_scale":2,"rate":"0.9234","quote_id":"7001","code":5,"amount":"%d"}`, id, amount)
	}
	first := c.do("POST", "/v1/conversions", conversion(500, 10000), "3:1")
	first.expect(t, "conversion", 201, `"applied":true`, `"target_amount":"9234"`)
	replayed := c.do("POST", "/v1/conversions", conversion(500, 10000), "3:1")
	if replayed.code != first.code || replayed.body != first.body ||
		replayed.header.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("conversion retried under its key: %d %s %v, first %d %s", replayed.code,
			replayed.body, replayed.header, first.code, first.body)
	}
	byIDs := c.do("POST", "/v1/conversions", conversion(500, 10000), "")
	byIDs.expect(t, "conversion retried by its ids", 200, `"applied":true`)
	if strings.Count(byIDs.body, `"status":"exists"`) != 2 {
		t.Fatalf("conversion retried by its ids: both legs should answer exists: %s", byIDs.body)
	}
	// 766 target cents are left: 1,000 source cents (923) overdraw the target liquidity.
	refused := c.do("POST", "/v1/conversions", conversion(510, 1000), "")
	refused.expect(t, "conversion beyond the liquidity", 422, `"applied":false`,
		`"status":"linked_event_failed"`, `"status":"exceeds_credits"`)
	c.do("POST", "/v1/transfers", `{"id":"701","debit_account_id":"92","credit_account_id":"91",`+
		`"amount":"10000","ledger":2,"code":1}`, "").expect(t, "more liquidity", 201, `"status":"ok"`)
	c.do("POST", "/v1/conversions", conversion(510, 1000), "").
		expect(t, "the refused conversion retried with its ids", 422, `"applied":false`, `"id_already_failed"`)
	c.do("POST", "/v1/conversions", conversion(520, 1000), "").
		expect(t, "the refused conversion with new ids", 201, `"applied":true`)

	// Risk rules: account 1 at most 100 per 4 h window, account 3 at most 2 transfers.
	const window = `"window_ns": 14400000000000`
	velocity := `{"id": 1, "kind": "velocity", "scope": "account", "account": "1", ` + window + `, "amount": "100"}`
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t, velocity,
		`{"id": 2, "kind": "velocity", "scope": "account", "account": "3", `+window+`, "count": 2}`))
	c.do("POST", "/v1/transfers", hunt47cTransfer(10, 1, 2, 60), "").expect(t, "60 of 100", 201, `"status":"ok"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(11, 1, 2, 40), "").expect(t, "at the limit", 201, `"status":"ok"`)
	overAmount := c.do("POST", "/v1/transfers", hunt47cTransfer(12, 1, 2, 1), "")
	overAmount.expect(t, "one past the limit", 422, `"status":"risk_account_velocity_amount","code":306`,
		`"rule":1`, `"limit":"100"`, `"current":"100"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(12, 1, 2, 1), "").
		expect(t, "the refused id again", 422, `"status":"id_already_failed"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(20, 3, 2, 1), "").expect(t, "count 1", 201, `"status":"ok"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(21, 3, 2, 1), "").expect(t, "count 2", 201, `"status":"ok"`)
	overCount := `"status":"risk_account_velocity_count","code":307`
	c.do("POST", "/v1/transfers", hunt47cTransfer(22, 3, 2, 1), "").
		expect(t, "count 3 of 2", 422, overCount, `"rule":2`, `"limit":"2"`)

	// Settlement netting (before the restart, so the window's transfers are all posted
	// or in flight): 50 → 60 30, 60 → 50 5, 2 → 50 7, and 2 → 50 9 pending.
	for _, transfer := range []string{hunt47cTransfer(30, 50, 60, 30), hunt47cTransfer(31, 60, 50, 5),
		hunt47cTransfer(32, 2, 50, 7), `{"id":"33","debit_account_id":"2","credit_account_id":"50",` +
			`"amount":"9","ledger":1,"code":1,"flags":2}`} {
		c.do("POST", "/v1/transfers", transfer, "").expect(t, "partner transfer", 201, `"status":"ok"`)
	}
	net := func(partners ...string) map[string]any {
		t.Helper()
		query := "until=now"
		for _, partner := range partners {
			query += "&partner=" + partner
		}
		request, _ := http.NewRequest("GET", "http://"+httpAddress+"/v1/settlement?"+query, nil)
		request.Header.Set("Authorization", "Bearer "+token)
		answer, err := c.http.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		defer answer.Body.Close()
		body, _ := io.ReadAll(answer.Body)
		var report struct {
			Positions []map[string]any `json:"positions"`
		}
		if answer.StatusCode != 200 || json.Unmarshal(body, &report) != nil || len(report.Positions) != 1 {
			t.Fatalf("settlement %v: %d %s", partners, answer.StatusCode, body)
		}
		return report.Positions[0]
	}
	fifty, sixty, both := net("50"), net("60"), net("50", "60")
	if fifty["net"] != "-18" || fifty["direction"] != "receivable" || sixty["net"] != "25" ||
		sixty["direction"] != "payable" || both["net"] != "7" {
		t.Fatalf("settlement: 50 %v, 60 %v, both %v; want -18 receivable, 25 payable, 7", fifty, sixty, both)
	}
	if fmt.Sprint(fifty["in_flight_credits"]) != "9" {
		t.Fatalf("settlement of 50: in flight %v, want 9", fifty["in_flight_credits"])
	}

	// The windows are state: after a SIGKILL the replayed counters refuse the same way.
	s.kill()
	s.restart()
	if again := c.do("POST", "/v1/conversions", conversion(500, 10000), "3:1"); again.code != first.code ||
		again.body != first.body || again.header.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("conversion retried under its key after a SIGKILL: %d %s, first %d %s", again.code,
			again.body, first.code, first.body)
	}
	c.do("POST", "/v1/transfers", hunt47cTransfer(13, 1, 2, 1), "").
		expect(t, "one past the limit after a restart", 422, `"status":"risk_account_velocity_amount"`,
			`"current":"100"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(23, 3, 2, 1), "").
		expect(t, "count 3 of 2 after a restart", 422, overCount)
	// Setting rule 1 again empties its counters.
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t, velocity))
	c.do("POST", "/v1/transfers", hunt47cTransfer(14, 1, 2, 100), "").
		expect(t, "the whole limit after the rule was set again", 201, `"status":"ok"`)

	// Cooling-off: a new account receives at most 10 in its first hour.
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		`{"id": 3, "kind": "cooling_off", "scope": "ledger", "ledger": 1, "window_ns": 3600000000000, "amount": "10"}`))
	c.do("POST", "/v1/accounts", `{"id":"5","ledger":1,"code":1}`, "").expect(t, "new account", 201)
	c.do("POST", "/v1/transfers", hunt47cTransfer(40, 2, 5, 11), "").
		expect(t, "11 to a new account", 422, `"status":"risk_new_counterparty_cooling_off","code":305`, `"rule":3`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(41, 2, 5, 10), "").
		expect(t, "10 to a new account", 201, `"status":"ok"`)

	// A rule set while transfers flow applies from one point of the log on: the answers
	// of a stream of transfers are some ok, then only refusals, the last ones sent after
	// the set returned; the account holds exactly the ones accepted.
	c.do("POST", "/v1/accounts", `{"id":"7","ledger":1,"code":1}`, "").expect(t, "account 7", 201)
	const streamed = 40
	answers := make(chan string, streamed)
	setDone := make(chan struct{})
	go func() {
		defer close(answers)
		for i := uint64(0); i < streamed; i++ {
			if i == streamed/2 {
				<-setDone // The second half is sent after the set returned.
			}
			answer, err := c.send("POST", "/v1/transfers", hunt47cTransfer(1000+i, 7, 2, 1), "")
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- answer.body
		}
	}()
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		`{"id": 6, "kind": "blocked", "scope": "account", "account": "7"}`))
	close(setDone)
	accepted, refusedFrom := 0, -1
	index := 0
	for body := range answers {
		switch {
		case strings.Contains(body, `"status":"ok"`) && refusedFrom < 0:
			accepted++
		case strings.Contains(body, `"status":"risk_debit_account_blocked"`):
			if refusedFrom < 0 {
				refusedFrom = index
			}
		default:
			t.Fatalf("transfer %d of the stream: %s (refused from %d on)", index, body, refusedFrom)
		}
		index++
	}
	if index != streamed || refusedFrom < 0 || refusedFrom > streamed/2 {
		t.Fatalf("stream: %d answers, refused from %d", index, refusedFrom)
	}
	if account := c.do("GET", "/v1/accounts/7", "", ""); !strings.Contains(account.body,
		fmt.Sprintf(`"debits_posted":"%d"`, accepted)) {
		t.Fatalf("account 7 after %d accepted: %s", accepted, account.body)
	}

	adminRisk(t, httpAddress, token, "remove", "3")
	// A conversion whose target leg a rule refuses: the chain is refused whole, and the
	// refused leg explains itself.
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		`{"id": 8, "kind": "max_amount", "scope": "ledger", "ledger": 2, "amount": "100"}`))
	byRule := c.do("POST", "/v1/conversions", conversion(530, 1000), "")
	byRule.expect(t, "a conversion above ledger 2's maximum", 422, `"applied":false`,
		`"refusal":"risk_amount_above_maximum"`, `"status":"linked_event_failed"`, `"rule":8`, `"limit":"100"`)
	adminRisk(t, httpAddress, token, "remove", "8")

	// Holds: client 2 (no operator scope) pays from its own account 200 under an
	// anomaly rule that holds; it may not post its held transfer, it may void it; one it
	// sent pending with a timeout expires then.
	own := c.asClient2()
	own.do("POST", "/v1/accounts", `[{"id":"200","ledger":1,"code":1,"flags":2},{"id":"201","ledger":1,"code":1,"flags":2}]`, "").
		expect(t, "client 2's accounts", 200)
	c.do("POST", "/v1/transfers", hunt47cTransfer(50, 2, 200, 5000), "").expect(t, "funding", 201, `"status":"ok"`)
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t, `{"id": 4, "kind": "anomaly", "scope": "account", `+
		`"account": "200", "threshold": 16, "warmup": 2, "shift": 1, "action": "hold"}`))
	own.do("POST", "/v1/transfers", hunt47cTransfer(51, 200, 201, 10), "").expect(t, "warmup 1", 201, `"status":"ok"`)
	own.do("POST", "/v1/transfers", hunt47cTransfer(52, 200, 201, 10), "").expect(t, "warmup 2", 201, `"status":"ok"`)
	held := `"status":"risk_held_for_review","code":313`
	own.do("POST", "/v1/transfers", hunt47cTransfer(53, 200, 201, 1000), "").expect(t, "held", 202, held, `"rule":4`)
	retried := own.do("POST", "/v1/transfers", hunt47cTransfer(53, 200, 201, 1000), "")
	retried.expect(t, "held, retried", 202, held)
	if strings.Contains(retried.body, `"rule":4`) {
		t.Fatalf("a retry of a held transfer names its rule (PROTOCOL.md: rule 0): %s", retried.body)
	}
	own.do("POST", "/v1/transfers/53/post", `{"id":"54"}`, "").
		expect(t, "the payer posts its held transfer", 422, `"status":"risk_review_required","code":314`)
	own.do("POST", "/v1/transfers/53/void", `{"id":"55"}`, "").
		expect(t, "the payer voids its held transfer", 201, `"status":"ok"`)
	own.do("POST", "/v1/transfers", `{"id":"56","debit_account_id":"200","credit_account_id":"201",`+
		`"amount":"1000","ledger":1,"code":1,"flags":2,"timeout":1}`, "").expect(t, "held pending", 202, held)
	payer := c.do("GET", "/v1/accounts/200", "", "")
	if !strings.Contains(payer.body, `"debits_pending":"1000"`) || !strings.Contains(payer.body, `"debits_posted":"20"`) {
		t.Fatalf("account 200 with a hold: %s", payer.body)
	}
	time.Sleep(2500 * time.Millisecond) // Past the 1 s timeout, however slow the machine.
	c.do("POST", "/v1/transfers/56/post", `{"id":"57"}`, "").
		expect(t, "the operator posts an expired hold", 422, `"status":"pending_transfer_expired"`)
	// The expiry sweep (a pulse entry) gives the reservation back.
	eventually(t, "the expired hold's amount back on account 200", func() bool {
		payer = c.do("GET", "/v1/accounts/200", "", "")
		return strings.Contains(payer.body, `"debits_pending":"0"`)
	})
	if !strings.Contains(payer.body, `"debits_posted":"20"`) {
		t.Fatalf("account 200 after the hold expired: %s", payer.body)
	}
}

// TestHunt47cRiskOnTwoShards checks README "Risk rules on a node of several shards"
// against `sequent serve --shards 2 --api`: cooling-off judged nowhere across shards
// (a local transfer is refused, the same amount across passes); a client's velocity
// amount allowed once per shard, a cross-shard transfer counted on its payer's shard;
// a cross-shard transfer the payee's shard refuses (blocked payee) answers that code
// without a rule, its id then id_already_failed, and stays counted on the payer's shard
// (its count limit refuses the next one); an anomaly rule that holds holds a local
// transfer and refuses a cross-shard one; after a snapshot, a SIGKILL and a restart the
// counters and holds decide the same, the post route takes the pending transfer's debit
// account (looked up when left out) and the log verifies offline; one rule id
// named twice for accounts of the two shards leaves the later in force; a conversion
// whose accounts span the shards is refused whole.
func TestHunt47cRiskOnTwoShards(t *testing.T) {
	c, s, httpAddress, token := hunt47cServer(t, "--shards", "2")
	ids := accountsOnShards(3)
	a0, a1, a2, b0, b1, b2 := ids[0][0], ids[0][1], ids[0][2], ids[1][0], ids[1][1], ids[1][2]
	var accounts []string
	for _, id := range []uint64{a0, a1, a2, b0, b1, b2} {
		accounts = append(accounts, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1}`, id))
	}
	created := c.do("POST", "/v1/accounts", "["+strings.Join(accounts, ",")+"]", "")
	if created.code != 200 || strings.Count(created.body, `"status":"ok"`) != 6 {
		t.Fatalf("accounts: %d %s", created.code, created.body)
	}

	// Cooling-off: judged nowhere across shards.
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		`{"id": 1, "kind": "cooling_off", "scope": "ledger", "ledger": 1, "window_ns": 3600000000000, "amount": "10"}`))
	c.do("POST", "/v1/transfers", hunt47cTransfer(10, a0, a1, 50), "").
		expect(t, "50 to a new account of the same shard", 422, `"status":"risk_new_counterparty_cooling_off"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(11, a0, b0, 50), "").
		expect(t, "50 to a new account of the other shard", 201, `"status":"ok"`)
	adminRisk(t, httpAddress, token, "remove", "1")

	// A client's velocity amount: its limit on each shard.
	const window = `"window_ns": 14400000000000`
	// (An amount of a client's rule needs its ledger: PROTOCOL.md section 12.)
	clientVelocity := `{"id": 2, "kind": "velocity", "scope": "client", "client": 1, ` + window + `, "amount": "100"`
	if output, err := run(t, "admin", "--http", httpAddress, "--token", token, "risk", "set",
		hunt47cRulesFile(t, clientVelocity+"}")); err == nil || !strings.Contains(output, "risk_rule_invalid") {
		t.Fatalf("a client's velocity amount without a ledger: %v %s", err, output)
	}
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t, clientVelocity+`, "ledger": 1}`))
	c.do("POST", "/v1/transfers", hunt47cTransfer(20, a0, a1, 100), "").expect(t, "100 on shard 0", 201, `"status":"ok"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(21, a0, a2, 1), "").
		expect(t, "101 on shard 0", 422, `"status":"risk_client_velocity_amount"`, `"rule":2`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(22, b0, b1, 100), "").expect(t, "100 on shard 1", 201, `"status":"ok"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(23, b1, a1, 1), "").
		expect(t, "101 on shard 1, across", 422, `"status":"risk_client_velocity_amount"`, `"rule":2`)
	adminRisk(t, httpAddress, token, "remove", "2")

	// Refused by the payee's shard, counted on the payer's.
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		fmt.Sprintf(`{"id": 3, "kind": "velocity", "scope": "account", "account": "%d", `+window+`, "count": 2}`, a2),
		fmt.Sprintf(`{"id": 4, "kind": "blocked", "scope": "account", "account": "%d"}`, b2)))
	blocked := c.do("POST", "/v1/transfers", hunt47cTransfer(30, a2, b2, 1), "")
	blocked.expect(t, "across into a blocked account", 422, `"status":"risk_credit_account_blocked","code":301`)
	if strings.Contains(blocked.body, `"rule":4`) {
		t.Fatalf("the payee shard's refusal carries its rule: %s", blocked.body)
	}
	c.do("POST", "/v1/transfers", hunt47cTransfer(30, a2, b2, 1), "").
		expect(t, "the id refused by the payee's shard, again", 422, `"status":"id_already_failed"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(31, a2, a0, 1), "").
		expect(t, "the second transfer counted", 201, `"status":"ok"`)
	overCount := `"status":"risk_account_velocity_count","code":307`
	c.do("POST", "/v1/transfers", hunt47cTransfer(32, a2, a1, 1), "").
		expect(t, "the third transfer counted", 422, overCount, `"rule":3`)

	// An anomaly rule that holds: a local transfer is held (202, again on a retry, rule
	// 0), a cross-shard one refused (step 1 cannot wait for a review).
	adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t, fmt.Sprintf(`{"id": 5, "kind": "anomaly", `+
		`"scope": "account", "account": "%d", "threshold": 16, "warmup": 2, "shift": 1, "action": "hold"}`, a0)))
	c.do("POST", "/v1/transfers", hunt47cTransfer(40, a0, a1, 10), "").expect(t, "warmup 1", 201, `"status":"ok"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(41, a0, a1, 10), "").expect(t, "warmup 2", 201, `"status":"ok"`)
	held := `"status":"risk_held_for_review","code":313`
	c.do("POST", "/v1/transfers", hunt47cTransfer(42, a0, a1, 1000), "").expect(t, "an outlier", 202, held, `"rule":5`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(42, a0, a1, 1000), "").expect(t, "the outlier again", 202, held)
	c.do("POST", "/v1/transfers", hunt47cTransfer(43, a0, b0, 1000), "").
		expect(t, "an outlier across shards", 422, `"status":"risk_anomaly","code":312`, `"rule":5`)

	// Counters and holds are state: a snapshot, a SIGKILL, the snapshot loaded and the
	// log's tail replayed decide the same way, and the log verifies offline.
	if output, err := run(t, "admin", "--http", httpAddress, "--token", token, "snapshot"); err != nil {
		t.Fatalf("snapshot: %v %s", err, output)
	}
	c.do("POST", "/v1/transfers", hunt47cTransfer(33, a2, a1, 1), "").
		expect(t, "the third transfer counted, after the snapshot", 422, overCount)
	s.kill()
	s.restart()
	c.do("POST", "/v1/transfers", hunt47cTransfer(34, a2, a1, 1), "").
		expect(t, "the third transfer counted, after a restart", 422, overCount)
	c.do("POST", "/v1/transfers", hunt47cTransfer(44, a0, a1, 1000), "").
		expect(t, "an outlier after a restart", 202, held)
	// The post route on a node of several shards: the pending transfer's debit account
	// says where it lives; a body without it is placed by the pending transfer the server
	// looks up (since session 48; it was placement_field_missing: README's route table).
	c.do("POST", "/v1/transfers/42/post", `{"id":"45"}`, "").
		expect(t, "the operator posts the held transfer, naming no debit account", 201,
			`"status":"ok"`)
	c.do("POST", "/v1/transfers/44/void", fmt.Sprintf(`{"id":"47","debit_account_id":"%d"}`, a1), "").
		expect(t, "a void naming another debit account", 422, `"status":"pending_transfer_has_different_debit_account_id"`)
	balance := c.do("GET", fmt.Sprintf("/v1/accounts/%d", a1), "", "")
	if !strings.Contains(balance.body, `"credits_posted":"1120"`) || !strings.Contains(balance.body, `"credits_pending":"1000"`) {
		t.Fatalf("account %d: %s", a1, balance.body)
	}

	// One id named twice, for accounts of the two shards: the later rule is in force
	// (README), and only it.
	twice := adminRisk(t, httpAddress, token, "set", hunt47cRulesFile(t,
		fmt.Sprintf(`{"id": 9, "kind": "blocked", "scope": "account", "account": "%d"}`, a1),
		fmt.Sprintf(`{"id": 9, "kind": "blocked", "scope": "account", "account": "%d"}`, b1)))
	t.Logf("rule 9 set twice: %s", twice)
	listed := adminRisk(t, httpAddress, token, "list")
	if strings.Count(listed, `"id":9`) != 1 || !strings.Contains(listed, fmt.Sprintf(`"account":"%d"`, b1)) {
		t.Fatalf("rule 9 named twice, listed: %s", listed)
	}
	c.do("POST", "/v1/transfers", hunt47cTransfer(60, b0, b1, 1), "").
		expect(t, "into the account of the later rule", 422, `"status":"risk_credit_account_blocked"`)
	c.do("POST", "/v1/transfers", hunt47cTransfer(61, a0, a1, 1), "").
		expect(t, "into the account of the earlier rule", 201, `"status":"ok"`)
	adminRisk(t, httpAddress, token, "remove", "9")

	// A conversion across shards: the whole chain refused.
	c.do("POST", "/v1/accounts", `[{"id":"1000","ledger":2,"code":1}]`, "").expect(t, "ledger 2 account", 200)
	conversion := fmt.Sprintf(`{"id":"500","payer":"%d","payee":"1000","source_liquidity":"%d",`+
		`"target_liquidity":"%d","source_ledger":1,"target_ledger":2,"source_scale":2,"target_scale":2,`+
		`"rate":"1","quote_id":"1","code":5,"amount":"10"}`, a0, b0, b1)
	c.do("POST", "/v1/conversions", conversion, "").expect(t, "conversion across shards", 422,
		`"applied":false`, `"status":"linked_event_failed"`, `"status":"linked_chain_spans_shards"`)
	s.stop()
	if output, err := run(t, "wal", "verify", s.data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}
