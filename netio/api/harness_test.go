package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/wal"
)

// Test clients of the keys file: operator has every permission and the operator scope,
// reader may only read, ecdsaClient signs with a P-256 key, limited is rate limited.
const (
	operatorClient = 1
	readerClient   = 2
	ecdsaClient    = 3
	limitedClient  = 4
	fencedClient   = 5 // May connect from 10.0.0.0/8 only.
	plainClient    = 6 // read and transfer, no grants: sees and moves only its own.
)

var testSecret = bytes.Repeat([]byte{0x42}, 32)

// testKeys returns the keys file of the tests and the ECDSA client's private key.
func testKeys(t testing.TB) (*netio.Keyring, *ecdsa.PrivateKey) {
	t.Helper()
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := hex.EncodeToString(testSecret)
	all := []string{"read", "transfer", "trade", "admin"}
	operator := []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{
			{ID: operatorClient, Name: "operator", Permissions: all,
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}, Grants: operator},
			{ID: readerClient, Name: "reader", Permissions: []string{"read"},
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}},
			{ID: ecdsaClient, Name: "ecdsa", Permissions: all,
				Keys:   []netio.KeysFileKey{{ID: 7, PublicKey: base64.StdEncoding.EncodeToString(der)}},
				Grants: operator},
			{ID: limitedClient, Name: "limited", Permissions: all,
				Keys:   []netio.KeysFileKey{{ID: 1, Secret: secret}},
				Limits: netio.ClientLimits{RequestsPerSecond: 1}},
			{ID: fencedClient, Name: "fenced", Permissions: all,
				Keys:            []netio.KeysFileKey{{ID: 1, Secret: secret}},
				AllowedNetworks: []string{"10.0.0.0/8"}},
			{ID: plainClient, Name: "plain", Permissions: []string{"read", "transfer"},
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return keys, private
}

// harness is an API server on a real shard (in-memory log) with the test keys.
type harness struct {
	t       testing.TB
	server  *Server
	shard   *shard.Shard
	log     *wal.MemoryLog
	base    string
	private *ecdsa.PrivateKey
	http    *http.Client
	clock   *testClock
}

// waitMax bounds the tests' waits for what a healthy shard or server does (an internal
// write, a connection): a hang guard, not a timing assertion, long enough for -race on
// the loaded 2-core CI machine.
const waitMax = time.Minute

// testClock is the server's clock: real time plus an offset the test moves, or, once
// frozen, a fixed instant plus that offset.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time // Zero: real time.
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// freeze stops the clock at the present instant: from then on only advance moves it.
func (c *testClock) freeze() {
	c.mu.Lock()
	c.frozen = time.Now()
	c.mu.Unlock()
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func newHarness(t testing.TB, adjust ...func(*Config)) *harness {
	t.Helper()
	return wrappedHarness(t, nil, adjust...)
}

// wrappedHarness is newHarness with the server's backend wrap(shard) (nil wrap: the
// shard itself), for a test that places a fault between the API and the shard.
func wrappedHarness(t testing.TB, wrap func(backend.Submitter) backend.Submitter,
	adjust ...func(*Config)) *harness {
	t.Helper()
	log := wal.NewMemoryLog()
	s, err := shard.New(shard.Config{}, core.New(core.Config{}), log)
	if err != nil {
		t.Fatal(err)
	}
	keys, private := testKeys(t)
	if err := s.SetGrants(keys.GrantsBody()); err != nil { // Logged before any request.
		t.Fatal(err)
	}
	clock := &testClock{}
	config := Config{Address: "127.0.0.1:0", Keys: keys, Now: clock.now,
		Admission: netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: 20}),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, change := range adjust {
		change(&config)
	}
	submitter := backend.Submitter(s)
	if wrap != nil {
		submitter = wrap(s)
	}
	server, err := New(config, submitter)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(NewReplier(nopReplier{}, server)))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, server: server, shard: s, log: log, base: "http://" + server.Address(),
		private: private, http: &http.Client{Timeout: 30 * time.Second}, clock: clock}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = s.Close()
	})
	return h
}

// nopReplier stands for the binary server: no binary client in these tests.
type nopReplier struct{}

func (nopReplier) Deliver([]backend.Reply)         {}
func (nopReplier) DeliverReports([]backend.Report) {}

// signer returns a signer for client (its HMAC key 1, or the ECDSA client's key 7).
func (h *harness) signer(client uint64) *Signer {
	if client == ecdsaClient {
		return &Signer{Client: client, Key: 7, Private: h.private, Now: h.clock.now}
	}
	return &Signer{Client: client, Key: 1, Secret: testSecret, Now: h.clock.now}
}

// response is one answer.
type response struct {
	code   int
	header http.Header
	body   []byte
	close  bool // The server closes the connection after it (net/http drops the header).
}

// errorCode returns the error code of an error answer.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var e Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e.Error
}

// do sends a request signed by signer (nil: unsigned) with extra headers.
func (h *harness) do(signer *Signer, method, uri, body string, headers ...string) response {
	h.t.Helper()
	request, err := http.NewRequest(method, h.base+uri, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		request.Header.Set("Content-Type", "application/json")
	}
	// Set before signing: the signature (version 2) covers the Idempotency-Key.
	for i := 0; i+1 < len(headers); i += 2 {
		request.Header.Set(headers[i], headers[i+1])
	}
	if signer != nil {
		if err := signer.Sign(request.Header, method, uri, []byte(body)); err != nil {
			h.t.Fatal(err)
		}
	}
	return h.send(request)
}

func (h *harness) send(request *http.Request) response {
	h.t.Helper()
	answer, err := h.http.Do(request)
	if err != nil {
		h.t.Fatalf("%s %s: %v", request.Method, request.URL, err)
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(answer.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{code: answer.StatusCode, header: answer.Header, body: body,
		close: answer.Close}
}

// operator sends a request as the operator client.
func (h *harness) operator(method, uri, body string, headers ...string) response {
	h.t.Helper()
	return h.do(h.signer(operatorClient), method, uri, body, headers...)
}

// expect checks an answer's HTTP status and, for an error, its code.
func (h *harness) expect(r response, code int, errorCode string) {
	h.t.Helper()
	if r.code != code {
		h.t.Fatalf("HTTP %d, want %d: %s", r.code, code, r.body)
	}
	if errorCode != "" {
		if got := r.errorCode(h.t); got != errorCode {
			h.t.Fatalf("error %q, want %q: %s", got, errorCode, r.body)
		}
	}
}

// createAccounts creates accounts 1..n on ledger 1 as the operator, with history.
func (h *harness) createAccounts(ids ...string) {
	h.t.Helper()
	var accounts []string
	for _, id := range ids {
		accounts = append(accounts, `{"id":"`+id+`","ledger":1,"code":1,"flags":8}`)
	}
	r := h.operator("POST", "/v1/accounts", "["+strings.Join(accounts, ",")+"]")
	h.expect(r, 200, "")
	var results []map[string]any
	if err := json.Unmarshal(r.body, &results); err != nil || len(results) != len(ids) {
		h.t.Fatalf("create accounts: %s", r.body)
	}
	for _, result := range results {
		if result["status"] != "ok" {
			h.t.Fatalf("create accounts: %s", r.body)
		}
	}
}
