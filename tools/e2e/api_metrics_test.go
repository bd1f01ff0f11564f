package e2e

import (
	"encoding/hex"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/netio/api"
)

// TestAPIRequestsReachMetrics: a real server serving the JSON API and the operators' HTTP
// port counts the API's answers in sequent_api_* (and /v1/status's "api"): three answered
// requests, one of them refused for its authentication, none refused after it. Before
// session 46 only the API's panics reached the operators.
func TestAPIRequestsReachMetrics(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("3c", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	apiAddress, httpAddress := freePort(t), freePort(t)
	startServer(t, data, freePort(t), "--keys", keys, "--api", apiAddress, "--http", httpAddress)
	raw, _ := hex.DecodeString(secret)
	c := &apiClient{t: t, base: "http://" + apiAddress, http: &http.Client{Timeout: 30 * time.Second},
		signer: &api.Signer{Client: 1, Key: 1, Secret: raw}}
	c.do("POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1}]`).
		expect(t, "create account", 200, `"status":"ok"`)
	c.do("GET", "/v1/accounts/1", "").expect(t, "lookup", 200, `"id":"1"`)
	unsigned, _ := http.NewRequest("GET", c.base+"/v1/accounts/1", nil)
	c.send(unsigned).expect(t, "unsigned", 401, `"missing_authentication"`)

	metrics := httpGet(t, "http://"+httpAddress+"/metrics")
	for _, want := range []string{"sequent_api_requests_total 3",
		"sequent_api_auth_failures_total 1", "sequent_api_refused_total 0",
		"sequent_api_rate_limited_total 0", "sequent_api_requests_inflight 0"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "sequent_api"))
		}
	}
	status := httpGet(t, "http://"+httpAddress+"/v1/status")
	if !strings.Contains(status, `"api":{"requests":3,"auth_failures":1,"refused":0`) {
		t.Errorf("/v1/status lacks the API's counters: %s", status)
	}
}
