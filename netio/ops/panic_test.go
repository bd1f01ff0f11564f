package ops

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"sequent/tools/testlog"
)

// TestHandlerPanicAnswers500: two handler panics on the handler's goroutine (a snapshot
// source that panics once, a token checker that panics on one token) are each answered
// 500 internal in the server's error shape; the server keeps serving; /metrics counts
// them in sequent_http_panics_total{server="ops"} (and shows the API's count from the
// snapshot under server="api") and the request counter records each 500; the log lines
// name panic, method and path, never the token or the body.
// Without the guard the first panic ends the test binary.
func TestHandlerPanicAnswers500(t *testing.T) {
	const secretToken, secretBody = "panicking-token-5e1d", `{"level":"body-secret-8a2b"}`
	fake := newFakeSources()
	snapshot := primarySnapshot()
	snapshot.APIPanics = 5
	fake.setSnapshot(snapshot)
	sources := fake.sources()
	var panicNext atomic.Bool
	panicNext.Store(true)
	snapshotOf := sources.Snapshot
	sources.Snapshot = func() Snapshot {
		if panicNext.CompareAndSwap(true, false) {
			var shards []ShardStats
			_ = shards[2] // As a source indexing a shard it does not have would.
		}
		return snapshotOf()
	}
	var log testlog.Buffer
	tokens := TokenChecker(testTokens)
	server := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Tokens: func(token string) (string, bool) {
			if token == secretToken {
				panic("token table corrupt")
			}
			return tokens(token)
		}}, sources)
	client := &http.Client{Timeout: waitMax}
	base := "http://" + server.Address()
	for _, r := range []response{
		call(t, client, http.MethodGet, base+PathStatus, "", nil, nil),
		call(t, client, http.MethodPost, base+PathLogLevel, secretToken, []byte(secretBody),
			map[string]string{"Content-Type": contentTypeJSON}),
	} {
		if r.code != http.StatusInternalServerError || r.reply(t).Code != CodeInternal ||
			r.reply(t).OK || r.header.Get("Content-Type") != contentTypeJSON {
			t.Errorf("answer %d %v %s, want 500 %s", r.code, r.header, r.body, CodeInternal)
		}
	}
	if r := get(t, server, PathStatus); r.code != http.StatusOK {
		t.Errorf("after the panics /v1/status answered %d %s", r.code, r.body)
	}
	metrics := string(get(t, server, PathMetrics).body)
	for _, want := range []string{`sequent_http_panics_total{server="ops"} 2`,
		`sequent_http_panics_total{server="api"} 5`,
		`sequent_http_requests_total{code="500",endpoint="/v1/status"} 1`,
		`sequent_http_requests_total{code="500",endpoint="/v1/admin/log-level"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	lines := log.String()
	for _, want := range []string{"level=ERROR", "server=ops", "index out of range",
		"token table corrupt", "method=GET path=/v1/status ",
		"method=POST path=/v1/admin/log-level ", "stack="} {
		if !strings.Contains(lines, want) {
			t.Errorf("log lacks %q: %s", want, lines)
		}
	}
	for _, secret := range []string{secretToken, "body-secret-8a2b"} {
		if strings.Contains(lines, secret) {
			t.Errorf("log shows %q", secret)
		}
	}
}

// TestPanicsCounterStartsAtZero: both series of sequent_http_panics_total are exported
// from the start, so that the alert's increase() sees the first panic of each server.
func TestPanicsCounterStartsAtZero(t *testing.T) {
	server := startServer(t, Config{}, newFakeSources().sources())
	metrics := string(get(t, server, PathMetrics).body)
	for _, want := range []string{`sequent_http_panics_total{server="api"} 0`,
		`sequent_http_panics_total{server="ops"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
