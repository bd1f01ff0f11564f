package api

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/httpguard"
	"sequent/tools/testlog"
)

// emptyReplyBackend answers every request at once with status ok, marked a replayed
// duplicate, and no body: a reply shorter than its request's results. The handlers
// trust the shard's reply lengths, so rendering it panics (an index out of range in
// EventResult.Decode), after the request went through the shard: the case of a handler
// bug met with a real reply.
type emptyReplyBackend struct{ server atomic.Pointer[Server] }

func (b *emptyReplyBackend) Submit(request *backend.Request) model.Status {
	b.server.Load().deliver(&backend.Reply{Connection: request.Connection,
		Status: model.StatusOK, Op: 9, Duplicate: true})
	return model.StatusOK
}

// TestHandlerPanicAnswers500: a handler that panics while rendering a released reply
// is answered 500 internal in the API's error shape (with Sequent-Server-Time, without
// the Sequent-Op and Idempotency-Replayed it had set, connection closed); the server
// keeps serving; what the request held (its in-flight slot, its body bytes) is given
// back; Stats counts the panic; the log line names the panic, method and path, never
// the body or the signature. Without the guard the panic ends the test binary.
func TestHandlerPanicAnswers500(t *testing.T) {
	keys, _ := testKeys(t)
	var log testlog.Buffer
	fake := &emptyReplyBackend{}
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}, fake)
	if err != nil {
		t.Fatal(err)
	}
	fake.server.Store(server)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Shutdown(t.Context()) })
	h := &harness{t: t, server: server, base: "http://" + server.Address(), clock: &testClock{},
		http: &http.Client{Timeout: 30 * time.Second}}
	const secretID = "918273645546372819"
	body := `{"id":"` + secretID + `","ledger":1,"code":1}`
	request, err := http.NewRequest("POST", h.base+"/v1/accounts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Set(HeaderIdempotencyKey, "77:1")
	if err := h.signer(operatorClient).Sign(request.Header, "POST", "/v1/accounts",
		[]byte(body)); err != nil {
		t.Fatal(err)
	}
	signature := request.Header.Get("Sequent-Signature")
	if signature == "" {
		t.Fatalf("no signature header among %v", request.Header)
	}
	r := h.send(request)
	h.expect(r, fasthttp.StatusInternalServerError, codeInternal)
	if !strings.Contains(decode[Error](t, r).Message, "Idempotency-Key") {
		t.Errorf("the 500 does not say how to learn the outcome: %s", r.body)
	}
	if r.header.Get(HeaderServerTime) == "" || r.header.Get(HeaderOp) != "" ||
		r.header.Get(HeaderIdempotencyReplayed) != "" || !r.close {
		t.Errorf("500's headers: %v", r.header)
	}
	h.expect(h.do(nil, "GET", "/v1/time", ""), fasthttp.StatusOK, "")
	stats := server.Stats()
	if stats.Panics != 1 || stats.InFlight != 0 {
		t.Errorf("after the panic: %d panics (want 1), %d in flight (want 0)", stats.Panics,
			stats.InFlight)
	}
	if !server.bodies.TryAcquire(bodyBytesInFlightMax) {
		t.Error("the panicked request's body bytes were not given back")
	} else {
		server.bodies.Release(bodyBytesInFlightMax)
	}
	line := log.String()
	for _, want := range []string{"level=ERROR", "server=api", "index out of range",
		"method=POST", "path=/v1/accounts ", "stack="} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %q: %s", want, line)
		}
	}
	for _, secret := range []string{secretID, signature, "Idempotency-Key"} {
		if strings.Contains(line, secret) {
			t.Errorf("log shows %q: %s", secret, line)
		}
	}
}

// panickingBackend is a shard whose Submit panics: a bug on the sequencer's side.
type panickingBackend struct{}

func (panickingBackend) Submit(*backend.Request) model.Status { panic("input ring corrupt") }

// TestBackendPanicIsNotRecovered: a panic out of the shard's Submit passes the guard as
// httpguard.Fatal (on fasthttp's goroutine, which does not recover, it ends the process,
// as without the guard): the shard may hold its ring's mutex, and a recovered server
// would then hang every client. The handler is called directly, so that the test can
// catch what a live server would die of.
func TestBackendPanicIsNotRecovered(t *testing.T) {
	keys, _ := testKeys(t)
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))}, panickingBackend{})
	if err != nil {
		t.Fatal(err)
	}
	const uri = "/v1/accounts/1"
	signed := http.Header{}
	signer := &Signer{Client: operatorClient, Key: 1, Secret: testSecret}
	if err := signer.Sign(signed, "GET", uri, nil); err != nil {
		t.Fatal(err)
	}
	var request fasthttp.Request
	request.Header.SetMethod("GET")
	request.SetRequestURI(uri)
	for name := range signed {
		request.Header.Set(name, signed.Get(name))
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	escaped := func() (escaped any) {
		defer func() { escaped = recover() }()
		server.handle(ctx)
		return nil
	}()
	if fatal, ok := escaped.(httpguard.Fatal); !ok || fatal.Value != "input ring corrupt" {
		t.Fatalf("escaped %#v (answer %d %s), want httpguard.Fatal", escaped,
			ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if panics := server.Stats().Panics; panics != 0 {
		t.Errorf("a fatal panic was counted as recovered: %d", panics)
	}
}

// TestNonceCacheLocksSurviveAPanic: a panic under the nonce cache's locks (forced here by
// breaking an invariant: the counts map is gone when an expired nonce is forgotten)
// leaves no lock held, so that once the guard has answered 500 the next request does not
// hang on the cache. It fails if the sweep's shard lock or the counts' lock is released
// without defer.
func TestNonceCacheLocksSurviveAPanic(t *testing.T) {
	cache := newNonceCache(time.Second, 1024)
	now := time.UnixMilli(1_000_000)
	if _, err := cache.use(operatorClient, []byte("nonce-1"), now.UnixMilli(), now); err != nil {
		t.Fatal(err)
	}
	cache.counts = nil // The invariant a bug would break.
	later := now.Add(3 * time.Second).UnixMilli()
	panicked := func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		for i := range cache.shards {
			cache.expireLocking(&cache.shards[i], later)
		}
		return false
	}()
	if !panicked {
		t.Fatal("forgetting a nonce with no counts map did not panic: the test proves nothing")
	}
	if !cache.countsMu.TryLock() {
		t.Fatal("the counts' lock is still held after the panic")
	}
	cache.countsMu.Unlock()
	for i := range cache.shards {
		if !cache.shards[i].mu.TryLock() {
			t.Fatalf("shard %d's lock is still held after the panic", i)
		}
		cache.shards[i].mu.Unlock()
	}
	cache.counts = map[uint64]int{}
	if _, err := cache.use(operatorClient, []byte("nonce-2"), later, time.UnixMilli(later)); err != nil {
		t.Fatalf("the cache after the panic: %v", err)
	}
}
