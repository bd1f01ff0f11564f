package ops

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refusalRecords returns the JSON log's "ops: request refused" records, in order.
func refusalRecords(text string) []map[string]any {
	var records []map[string]any
	for _, line := range strings.Split(text, "\n") {
		var record map[string]any
		if json.Unmarshal([]byte(line), &record) == nil && record["msg"] == "ops: request refused" {
			records = append(records, record)
		}
	}
	return records
}

// TestOpsLog50EveryRefusalLogsThePathAsSent: every refusal's log line gives the path as
// sent in "path", whatever refused the request. The token refusals logged the action's
// name there ("snapshot" for POST /v1/admin/snapshot) and a disallowed address whose
// request fasthttp could not read (a body over requestBodyBytesMax announced) logged an
// empty path, so a log reader matching paths missed both. The action stays in "action".
func TestOpsLog50EveryRefusalLogsThePathAsSent(t *testing.T) {
	const wrongToken = "Authorization: Bearer not-a-token\r\n"
	oversized := "Content-Length: " + strconv.Itoa(requestBodyBytesMax+1) + "\r\n"
	for _, c := range []struct {
		name   string
		config Config
		head   string
		code   int
		reason string
		path   string
		action string // The "action" attribute wanted; "" when the line has none.
	}{
		{"no token", Config{}, "POST " + PathSnapshot + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			"Content-Length: 0\r\n", http.StatusUnauthorized, "no_token", PathSnapshot,
			ActionSnapshot},
		{"wrong token", Config{}, "POST " + PathSnapshot + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			wrongToken + "Content-Length: 0\r\n", http.StatusForbidden, "wrong_token",
			PathSnapshot, ActionSnapshot},
		{"wrong token on a clearing read", Config{}, "GET " + PathSettlement + "?partner=1" +
			" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + wrongToken, http.StatusForbidden,
			"wrong_token", PathSettlement, "settlement"},
		{"address, request unread", Config{AllowCIDRs: []string{"10.0.0.0/8"}},
			"POST /x/%2e%2e" + PathSnapshot + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + oversized,
			http.StatusForbidden, "address_not_allowed", "/x/%2e%2e" + PathSnapshot, ""},
		{"address", Config{AllowCIDRs: []string{"10.0.0.0/8"}},
			"GET /x/%2e%2e" + PathStatus + " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
			http.StatusForbidden, "address_not_allowed", "/x/%2e%2e" + PathStatus, ""},
		{"host", Config{}, "GET /v1/%73tatus HTTP/1.1\r\nHost: other.example\r\n",
			http.StatusMisdirectedRequest, "host_not_allowed", "/v1/%73tatus", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log lockedBuffer
			config := c.config
			config.Tokens = TokenChecker(testTokens)
			config.RequestsPerSecondPerAddress = -1
			config.Logger = slog.New(slog.NewJSONHandler(&log, nil))
			server := startServer(t, config, newFakeSources().sources())
			if got := rawRequest(t, server, c.head); got.code != c.code {
				t.Fatalf("%q: %d %s, want %d", c.head, got.code, got.body, c.code)
			}
			checkRefusalLogged(t, log.text(), c.reason, c.path, c.action)
		})
	}
	// The rate limiter's refusal, on a clock that does not move: the burst passes, the
	// next request is refused (a bounded number of requests in all).
	t.Run("rate", func(t *testing.T) {
		var log lockedBuffer
		server := startServer(t, Config{RequestsPerSecondPerAddress: 1,
			Logger: slog.New(slog.NewJSONHandler(&log, nil))}, newFakeSources().sources())
		server.now = (&testClock{at: time.Unix(1_000_000, 0)}).now
		const sent = "/v1/%73tatus"
		head := "GET " + sent + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		for i := 0; ; i++ {
			if i > requestBurstSeconds {
				t.Fatalf("%d requests within a second at 1 a second were not refused", i)
			}
			if got := rawRequest(t, server, head); got.code == http.StatusTooManyRequests {
				break
			}
		}
		checkRefusalLogged(t, log.text(), "rate_limited", sent, "")
	})
}

// checkRefusalLogged checks that the log holds exactly one refusal, for reason, with the
// path and action wanted.
func checkRefusalLogged(t *testing.T, text, reason, path, action string) {
	t.Helper()
	records := refusalRecords(text)
	if len(records) != 1 {
		t.Fatalf("%d refusals logged, want 1:\n%s", len(records), text)
	}
	record := records[0]
	if record["reason"] != reason || record["path"] != path {
		t.Errorf("refusal logged reason %v path %q, want %s %q", record["reason"],
			record["path"], reason, path)
	}
	if got, _ := record["action"].(string); got != action {
		t.Errorf("refusal logged action %q, want %q", got, action)
	}
}
