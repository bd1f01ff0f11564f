package ops

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"sequent/core/model"
	"sequent/netio/httpguard"
	"sequent/tools/testlog"
)

// TestHandlerPanicAnswers500: a handler's panic (the token checker panics on one
// token, on a read and on an admin endpoint) is answered 500 internal in the server's
// error shape; the server keeps serving; /metrics counts the panics in
// sequent_http_panics_total{server="ops"} (and shows the API's count from the snapshot
// under server="api") and the request counter records each 500; the log lines name
// panic, method and path, never the token or the body. Without the guard the first
// panic ends the test binary.
func TestHandlerPanicAnswers500(t *testing.T) {
	const secretToken, secretBody = "panicking-token-5e1d", `{"level":"body-secret-8a2b"}`
	fake := newFakeSources()
	snapshot := primarySnapshot()
	snapshot.APIPanics = 5
	fake.setSnapshot(snapshot)
	var log testlog.Buffer
	tokens := TokenChecker(testTokens)
	server := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Tokens: func(token string) (string, bool) {
			if token == secretToken {
				var names []string
				_ = names[2] // As a checker indexing a table it does not have would.
			}
			return tokens(token)
		}}, fake.sources())
	client := &http.Client{Timeout: waitMax}
	base := "http://" + server.Address()
	for _, r := range []response{
		call(t, client, http.MethodGet, base+PathSettlement+"?partner=7&until=2026-01-01T00:00:00Z",
			secretToken, nil, nil),
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
		`sequent_http_requests_total{code="500",endpoint="/v1/settlement"} 1`,
		`sequent_http_requests_total{code="500",endpoint="/v1/admin/log-level"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	lines := log.String()
	for _, want := range []string{"level=ERROR", "server=ops", "index out of range",
		"method=GET path=/v1/settlement ", "method=POST path=/v1/admin/log-level ",
		"stack="} {
		if !strings.Contains(lines, want) {
			t.Errorf("log lacks %q: %s", want, lines)
		}
	}
	for _, secret := range []string{secretToken, "body-secret-8a2b", "partner=7"} {
		if strings.Contains(lines, secret) {
			t.Errorf("log shows %q", secret)
		}
	}
}

// TestSourcePanicIsNotRecovered: a panic out of a source that reads the node (the
// snapshot behind /v1/status, the depth behind /v1/depth) passes the guard as
// httpguard.Fatal, so that on fasthttp's goroutine it ends the process as it would
// without the guard: the node may hold a lock the panic skipped. The handler is called
// directly, so that the test can catch what a live server would die of.
func TestSourcePanicIsNotRecovered(t *testing.T) {
	sources := newFakeSources().sources()
	sources.Snapshot = func() Snapshot { panic("replication state corrupt") }
	sources.Console.Depth = func(uint32, uint32) ([]model.DepthLevel, model.Status, error) {
		panic("input ring corrupt")
	}
	server, err := New(Config{Address: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))}, sources)
	if err != nil {
		t.Fatal(err)
	}
	for uri, value := range map[string]string{PathStatus: "replication state corrupt",
		PathDepth + "?instrument=1": "input ring corrupt"} {
		var request fasthttp.Request
		request.Header.SetMethod(fasthttp.MethodGet)
		request.SetRequestURI(uri)
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
		escaped := func() (escaped any) {
			defer func() { escaped = recover() }()
			server.handle(ctx)
			return nil
		}()
		if fatal, ok := escaped.(httpguard.Fatal); !ok || fatal.Value != value {
			t.Errorf("%s: escaped %#v (answer %d %s), want httpguard.Fatal{%s}", uri, escaped,
				ctx.Response.StatusCode(), ctx.Response.Body(), value)
		}
	}
	if panics := server.guard.Panics(); panics != 0 {
		t.Errorf("a fatal panic was counted as recovered: %d", panics)
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
