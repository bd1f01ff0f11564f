package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/api"
	"sequent/netio/jsonview"
)

// apiClient sends signed requests to a real server's JSON API.
type apiClient struct {
	t      *testing.T
	base   string
	signer *api.Signer
	http   *http.Client
}

type apiAnswer struct {
	code   int
	header http.Header
	body   string
}

// do sends one signed request (extra headers as name, value pairs).
func (c *apiClient) do(method, uri, body string, headers ...string) apiAnswer {
	c.t.Helper()
	request, err := http.NewRequest(method, c.base+uri, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	request.Header.Set("Content-Type", "application/json")
	// Set before signing: the signature (version 2) covers the Idempotency-Key.
	for i := 0; i+1 < len(headers); i += 2 {
		request.Header.Set(headers[i], headers[i+1])
	}
	if err := c.signer.Sign(request.Header, method, uri, []byte(body)); err != nil {
		c.t.Fatal(err)
	}
	return c.send(request)
}

func (c *apiClient) send(request *http.Request) apiAnswer {
	c.t.Helper()
	answer, err := c.http.Do(request)
	if err != nil {
		c.t.Fatalf("%s %s: %v", request.Method, request.URL, err)
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(io.LimitReader(answer.Body, 1<<20))
	if err != nil {
		c.t.Fatal(err)
	}
	return apiAnswer{code: answer.StatusCode, header: answer.Header, body: string(body)}
}

// expect checks an answer's status and, when given, a substring of its body.
func (a apiAnswer) expect(t *testing.T, what string, code int, contains string) {
	t.Helper()
	if a.code != code || !strings.Contains(a.body, contains) {
		t.Fatalf("%s: HTTP %d %s, want %d with %q", what, a.code, a.body, code, contains)
	}
}

// TestAPIAgainstARealServer runs `sequent serve --api` as a process and drives it over
// HTTP as an integrator would: HMAC and ECDSA signatures, the refusals of a bad
// signature and of a replay, accounts, a transfer and its retry, a retry after SIGKILL
// under the same Idempotency-Key (the original reply, applied once) and without one (the
// ledger's idempotency: exists, applied once), the binary client seeing the same
// balances, and the OpenAPI document served.
func TestAPIAgainstARealServer(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("5a", 32)
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	operator := []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	hmacClient := keyClient(1, secret, "read", "transfer")
	hmacClient.Grants = operator
	ecdsaClient := netio.KeysFileClient{ID: 2, Name: "ecdsa", Permissions: []string{"read", "transfer"},
		Keys: []netio.KeysFileKey{{ID: 3, PublicKey: base64.StdEncoding.EncodeToString(der),
			SignatureVersionMin: api.SignatureVersion2}},
		Grants: operator}
	writeKeys(t, keys, hmacClient, ecdsaClient)
	apiAddress := freePort(t)
	s := startServer(t, data, freePort(t), "--keys", keys, "--api", apiAddress, "--http", "")
	raw, _ := hex.DecodeString(secret)
	c := &apiClient{t: t, base: "http://" + apiAddress, http: &http.Client{Timeout: 30 * time.Second},
		signer: &api.Signer{Client: 1, Key: 1, Secret: raw}}
	signed := &apiClient{t: t, base: c.base, http: c.http,
		signer: &api.Signer{Client: 2, Key: 3, Private: private}}

	c.do("POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1},{"id":"2","ledger":1,"code":1}]`).
		expect(t, "create accounts", 200, `"status":"ok"`)
	transfer := `{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"25","ledger":1,"code":1}`
	first := c.do("POST", "/v1/transfers", transfer, api.HeaderIdempotencyKey, "9:1")
	first.expect(t, "transfer", 201, `"status":"ok"`)
	signed.do("POST", "/v1/transfers", `{"id":"11","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1}`).
		expect(t, "ECDSA-signed transfer", 201, `"status":"ok"`)

	// Signature version 2 (the signer's default) binds the Idempotency-Key: a relay that
	// moves the write to another number is refused. Version 1, which does not, still
	// verifies for the HMAC key, and the ECDSA key's signature_version_min 2 (read from
	// the keys file) refuses it.
	moved, _ := http.NewRequest("POST", c.base+"/v1/transfers", strings.NewReader(transfer))
	moved.Header.Set("Content-Type", "application/json")
	moved.Header.Set(api.HeaderIdempotencyKey, "9:1")
	if err := c.signer.Sign(moved.Header, "POST", "/v1/transfers", []byte(transfer)); err != nil {
		t.Fatal(err)
	}
	moved.Header.Set(api.HeaderIdempotencyKey, "9:100000")
	c.send(moved).expect(t, "Idempotency-Key changed in transit", 401, `"bad_signature"`)
	version1 := &apiClient{t: t, base: c.base, http: c.http,
		signer: &api.Signer{Client: 1, Key: 1, Secret: raw, Version: api.SignatureVersion1}}
	version1.do("GET", "/v1/accounts/1", "").expect(t, "version 1", 200, `"id":"1"`)
	version1ECDSA := &apiClient{t: t, base: c.base, http: c.http,
		signer: &api.Signer{Client: 2, Key: 3, Private: private, Version: api.SignatureVersion1}}
	version1ECDSA.do("GET", "/v1/accounts/1", "").expect(t, "version 1, signature_version_min 2",
		401, `"signature_version_too_old"`)

	// A bad signature and a replayed request are refused, each with its own code.
	request, _ := http.NewRequest("GET", c.base+"/v1/accounts/1", nil)
	if err := c.signer.Sign(request.Header, "GET", "/v1/accounts/1", nil); err != nil {
		t.Fatal(err)
	}
	c.send(request.Clone(request.Context())).expect(t, "first send", 200, `"id":"1"`)
	c.send(request.Clone(request.Context())).expect(t, "replay", 401, `"nonce_replayed"`)
	forged := request.Clone(request.Context())
	forged.Header.Set(api.HeaderNonce, "another-nonce-of-24-chars")
	c.send(forged).expect(t, "forged", 401, `"bad_signature"`)

	// SIGKILL, restart, and retry: the same Idempotency-Key returns the original reply.
	s.kill()
	s.restart()
	retry := c.do("POST", "/v1/transfers", transfer, api.HeaderIdempotencyKey, "9:1")
	retry.expect(t, "retry after SIGKILL", 201, `"status":"ok"`)
	if retry.body != first.body || retry.header.Get(api.HeaderIdempotencyReplayed) != "true" ||
		retry.header.Get(api.HeaderOp) != first.header.Get(api.HeaderOp) {
		t.Fatalf("retry after SIGKILL: %s %v; first %s %v", retry.body, retry.header, first.body,
			first.header)
	}
	c.do("POST", "/v1/transfers", transfer).expect(t, "retry without a key", 200, `"status":"exists"`)

	var account jsonview.Account
	answer := c.do("GET", "/v1/accounts/1", "")
	answer.expect(t, "lookup", 200, "")
	if err := json.Unmarshal([]byte(answer.body), &account); err != nil || account.DebitsPosted != "30" {
		t.Fatalf("account 1 after retries: %v %s", err, answer.body)
	}
	binaryClient, err := dialWith(t, s.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer binaryClient.Close()
	ctx, cancel := context30s()
	defer cancel()
	accounts, err := binaryClient.LookupAccounts(ctx, []model.Uint128{model.U128(2)})
	if err != nil || len(accounts) != 1 || accounts[0].CreditsPosted != model.U128(30) {
		t.Fatalf("binary lookup: %v %+v", err, accounts)
	}

	document, _ := http.NewRequest("GET", c.base+"/v1/openapi.json", nil)
	c.send(document).expect(t, "OpenAPI document", 200, `"openapi": "3.`)
}

// TestRiskRulesThroughAdminAndAPI: a rule set with `sequent admin risk set` (audited,
// through the log) refuses a transfer sent to the JSON API with its explanation (rule,
// limit, value), is listed by `sequent admin risk list`, and survives a SIGKILL and
// restart (the log replays it, and the same transfer is refused the same way); after
// `sequent admin risk remove` a transfer with a new id goes through.
func TestRiskRulesThroughAdminAndAPI(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("6b", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "admin"))
	apiAddress, httpAddress := freePort(t), freePort(t)
	s := startServer(t, data, freePort(t), "--keys", keys, "--api", apiAddress, "--http", httpAddress)
	raw, _ := hex.DecodeString(secret)
	c := &apiClient{t: t, base: "http://" + apiAddress, http: &http.Client{Timeout: 30 * time.Second},
		signer: &api.Signer{Client: 1, Key: 1, Secret: raw}}
	c.do("POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1},{"id":"2","ledger":1,"code":1}]`).
		expect(t, "create accounts", 200, `"status":"ok"`)
	rules := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(rules, []byte(`{"rules": [{"id": 7, "kind": "max_amount",
		"scope": "ledger", "ledger": 1, "amount": "1000"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := func(args ...string) string {
		t.Helper()
		output, err := run(t, append([]string{"admin", "--http", httpAddress, "--token", token,
			"risk"}, args...)...)
		if err != nil {
			t.Fatalf("sequent admin risk %v: %v\n%s", args, err, output)
		}
		return output
	}
	admin("set", rules)
	if listed := admin("list", "--json"); !strings.Contains(listed, `"max_amount"`) ||
		!strings.Contains(listed, `"1000"`) {
		t.Fatalf("risk list: %s", listed)
	}
	large := `{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1001","ledger":1,"code":1}`
	refusal := `"status":"risk_amount_above_maximum","code":304`
	first := c.do("POST", "/v1/transfers", large)
	first.expect(t, "over the maximum", 422, refusal)
	for _, part := range []string{`"rule":7`, `"limit":"1000"`} {
		if !strings.Contains(first.body, part) {
			t.Fatalf("refusal without %s: %s", part, first.body)
		}
	}
	s.kill()
	s.restart()
	again := c.do("POST", "/v1/transfers", strings.Replace(large, `"10"`, `"11"`, 1))
	again.expect(t, "over the maximum after a restart", 422, refusal)
	if listed := admin("list", "--json"); !strings.Contains(listed, `"max_amount"`) {
		t.Fatalf("risk list after restart: %s", listed)
	}
	admin("remove", "7")
	c.do("POST", "/v1/transfers", strings.Replace(large, `"10"`, `"12"`, 1)).
		expect(t, "after the rule's removal", 201, `"status":"ok"`)
}
