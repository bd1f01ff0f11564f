package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestClearingEndpoints covers every outcome of the settlement and chain endpoints: the
// query handed to the source, 200 with its result, 400 for bad arguments (found by the
// handler or by the source), 405, 409 while another of its slot runs (settlement and
// reconcile share one, the chain check has its own), 409 refused, 500, 501 without a
// source, and the allow-list.
func TestClearingEndpoints(t *testing.T) {
	var mutex sync.Mutex
	var settlements []SettlementQuery
	var chains []ChainQuery
	var sourceErr error
	release := make(chan struct{})
	blocking := false
	sources := newFakeSources().sources()
	sources.Settlement = func(ctx context.Context, query SettlementQuery) (any, error) {
		mutex.Lock()
		settlements = append(settlements, query)
		err, block := sourceErr, blocking
		mutex.Unlock()
		if block {
			<-release
		}
		return map[string]any{"positions": len(query.Partners)}, err
	}
	chainBlocking := false
	chainRelease := make(chan struct{})
	sources.VerifyChain = func(ctx context.Context, query ChainQuery) (any, error) {
		mutex.Lock()
		chains = append(chains, query)
		err, block := sourceErr, chainBlocking
		mutex.Unlock()
		if block {
			<-chainRelease
		}
		return map[string]any{"ok": true, "anchor_op": query.AnchorOp}, err
	}
	sources.Reconcile = func(ctx context.Context) (any, error) {
		return map[string]any{"ok": true}, nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	get := func(t *testing.T, server *Server, path string) response { // With a token.
		t.Helper()
		return call(t, nil, http.MethodGet, "http://"+server.Address()+path,
			testTokens["alice"], nil, nil)
	}

	ok := get(t, server, PathSettlement+"?partner=5&partner=6&until=now&from=2026-01-01&transfers=3")
	if ok.code != http.StatusOK || !strings.Contains(string(ok.body), `"positions":2`) ||
		fmt.Sprint(settlements) != "[{[5 6] 2026-01-01 now 3}]" {
		t.Fatalf("settlement: %d %s, queries %v", ok.code, ok.body, settlements)
	}
	chain := get(t, server, PathChain+"?until=now&anchor_op=42")
	if chain.code != http.StatusOK || fmt.Sprint(chains) != "[{ now 42 0}]" {
		t.Fatalf("chain: %d %s, queries %v", chain.code, chain.body, chains)
	}
	chain = get(t, server, PathChain+"?until=now&shard=3")
	if chain.code != http.StatusOK || fmt.Sprint(chains) != "[{ now 42 0} { now 0 3}]" {
		t.Fatalf("chain of shard 3: %d %s, queries %v", chain.code, chain.body, chains)
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{PathSettlement + "?until=now", http.StatusBadRequest, CodeBadRequest},
		{PathSettlement + "?partner=1", http.StatusBadRequest, CodeBadRequest},
		{PathSettlement + "?partner=1&until=now&transfers=-1", http.StatusBadRequest, CodeBadRequest},
		{PathSettlement + "?partner=1&until=now&transfers=100001", http.StatusBadRequest, CodeBadRequest},
		{PathSettlement + "?partner=1&until=now&colour=red", http.StatusBadRequest, CodeBadRequest},
		{PathChain + "?anchor_op=x", http.StatusBadRequest, CodeBadRequest},
		{PathChain + "?limit=1", http.StatusBadRequest, CodeBadRequest},
		{PathChain + "?shard=-1", http.StatusBadRequest, CodeBadRequest},
		{PathChain + "?shard=256", http.StatusBadRequest, CodeBadRequest},
		{PathChain + "?shard=x", http.StatusBadRequest, CodeBadRequest},
	} {
		if r := get(t, server, c.path); r.code != c.code || r.reply(t).Code != c.want {
			t.Errorf("%s: %d %s", c.path, r.code, r.body)
		}
	}
	if r := post(t, server, PathChain, ""); r.code != http.StatusMethodNotAllowed ||
		r.header.Get("Allow") != "GET" {
		t.Errorf("POST: %d %v", r.code, r.header)
	}
	for err, want := range map[error][2]any{
		fmt.Errorf("%w: no account 9", ErrBadQuery): {http.StatusBadRequest, CodeBadRequest},
		fmt.Errorf("%w: fenced", ErrRefused):        {http.StatusConflict, CodeRefused},
		errTest:                                     {http.StatusInternalServerError, CodeActionFailed},
	} {
		mutex.Lock()
		sourceErr = err
		mutex.Unlock()
		r := get(t, server, PathChain)
		if r.code != want[0] || r.reply(t).Code != want[1] {
			t.Errorf("source error %v: %d %s", err, r.code, r.body)
		}
	}
	mutex.Lock()
	sourceErr, blocking = nil, true
	mutex.Unlock()
	first := make(chan response, 1)
	go func() {
		first <- call(t, nil, http.MethodGet, "http://"+server.Address()+PathSettlement+
			"?partner=1&until=now", testTokens["alice"], nil, nil)
	}()
	for {
		mutex.Lock()
		started := len(settlements) == 2
		mutex.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if r := get(t, server, PathSettlement+"?partner=1&until=now"); r.code != http.StatusConflict ||
		r.reply(t).Code != CodeBusy {
		t.Errorf("concurrent settlement: %d %s", r.code, r.body)
	}
	if r := get(t, server, PathReconcile); r.code != http.StatusConflict ||
		r.reply(t).Code != CodeBusy {
		t.Errorf("reconcile during a settlement: %d %s", r.code, r.body)
	}
	// The chain check has a slot of its own: answered while a settlement runs, and a
	// chain check running (anyone behind the allow-list may ask, without a token) holds
	// off only other chain checks, never the operators' settlement.
	if r := get(t, server, PathChain); r.code != http.StatusOK {
		t.Errorf("chain check during a settlement: %d %s", r.code, r.body)
	}
	close(release)
	if r := <-first; r.code != http.StatusOK {
		t.Errorf("first: %d %s", r.code, r.body)
	}
	mutex.Lock()
	chainBlocking, blocking = true, false
	chainsBefore := len(chains)
	mutex.Unlock()
	firstChain := make(chan response, 1)
	go func() {
		firstChain <- call(t, nil, http.MethodGet, "http://"+server.Address()+PathChain, "",
			nil, nil)
	}()
	for {
		mutex.Lock()
		started := len(chains) == chainsBefore+1
		mutex.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if r := get(t, server, PathChain); r.code != http.StatusConflict || r.reply(t).Code != CodeBusy {
		t.Errorf("concurrent chain check: %d %s", r.code, r.body)
	}
	if r := get(t, server, PathSettlement+"?partner=1&until=now"); r.code != http.StatusOK {
		t.Errorf("settlement during a chain check without a token: %d %s", r.code, r.body)
	}
	close(chainRelease)
	if r := <-firstChain; r.code != http.StatusOK {
		t.Errorf("first chain check: %d %s", r.code, r.body)
	}

	bare := startServer(t, Config{}, newFakeSources().sources())
	if r := get(t, bare, PathChain); r.code != http.StatusNotImplemented {
		t.Errorf("no source: %d %s", r.code, r.body)
	}
	closed := startServer(t, Config{AllowCIDRs: []string{"10.0.0.0/8"}}, sources)
	if r := get(t, closed, PathSettlement+"?partner=1&until=now"); r.code != http.StatusForbidden {
		t.Errorf("allow-list: %d %s", r.code, r.body)
	}
	var decoded map[string]any
	if json.Unmarshal(ok.body, &decoded) != nil {
		t.Errorf("settlement body is not JSON: %s", ok.body)
	}
}

// FuzzClearingArguments parses arbitrary query strings as both clearing endpoints' do:
// never a panic, and what is accepted is within bounds.
func FuzzClearingArguments(f *testing.F) {
	for _, seed := range []string{"partner=5&until=now", "partner=1&partner=2&from=x&until=y&transfers=7",
		"partner=&until=", "transfers=-1", "anchor_op=18446744073709551615", "until=now&anchor_op=1",
		"shard=255", "shard=256&anchor_op=1",
		"partner=1&until=now&transfers=100000", "%zz=1", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var arguments fasthttp.Args
		arguments.Parse(text)
		if query, err := settlementArguments(&arguments); err == nil &&
			(len(query.Partners) == 0 || len(query.Partners) > partnersMax || query.Until == "" ||
				query.Transfers < 0 || query.Transfers > settlementTransfersMax) {
			t.Fatalf("%q: accepted %+v", text, query)
		}
		if query, err := chainArguments(&arguments); err == nil && arguments.Has("anchor_op") {
			digits := strings.TrimLeft(string(arguments.Peek("anchor_op")), "0")
			if digits == "" {
				digits = "0"
			}
			if strconv.FormatUint(query.AnchorOp, 10) != digits {
				t.Fatalf("%q: anchor %d", text, query.AnchorOp)
			}
		}
		if query, err := chainArguments(&arguments); err == nil &&
			(query.Shard < 0 || query.Shard >= chainShardsMax) {
			t.Fatalf("%q: shard %d", text, query.Shard)
		}
	})
}

// TestSettlementNeedsAdminToken: the settlement listing shows any account's transfers and
// net positions (the node reads them as the system, past every client's ownership) and
// runs on the shard's sequencer, so it takes an admin token like the admin actions:
// without one 401, with a wrong one 403, and in neither case does the source run. The
// chain check, which shows no account data, stays behind the allow-list only.
func TestSettlementNeedsAdminToken(t *testing.T) {
	var mutex sync.Mutex
	calls := 0
	sources := newFakeSources().sources()
	sources.Settlement = func(ctx context.Context, query SettlementQuery) (any, error) {
		mutex.Lock()
		defer mutex.Unlock()
		calls++
		return map[string]any{"positions": 1}, nil
	}
	sources.VerifyChain = func(ctx context.Context, query ChainQuery) (any, error) {
		return map[string]any{"ok": true}, nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	url := "http://" + server.Address() + PathSettlement + "?partner=50&until=now"
	for _, c := range []struct {
		token string
		code  int
		want  string
	}{{"", http.StatusUnauthorized, CodeUnauthorized},
		{"guess", http.StatusForbidden, CodeForbidden}} {
		r := call(t, nil, http.MethodGet, url, c.token, nil, nil)
		if r.code != c.code || r.reply(t).Code != c.want {
			t.Errorf("token %q: %d %s", c.token, r.code, r.body)
		}
	}
	// Arguments are checked after the token: a stranger learns nothing from them.
	if r := get(t, server, PathSettlement+"?colour=red"); r.code != http.StatusUnauthorized {
		t.Errorf("bad arguments without a token: %d %s", r.code, r.body)
	}
	mutex.Lock()
	ran := calls
	mutex.Unlock()
	if ran != 0 {
		t.Fatalf("the settlement source ran %d times without a valid token", ran)
	}
	if r := call(t, nil, http.MethodGet, url, testTokens["bob"], nil, nil); r.code != http.StatusOK {
		t.Errorf("with the token: %d %s", r.code, r.body)
	}
	if r := get(t, server, PathChain); r.code != http.StatusOK {
		t.Errorf("chain without a token: %d %s", r.code, r.body)
	}
}

// TestReconcileNeedsAdminToken: the cross-shard report sums every client's accounts per
// ledger (the binary protocol's ledger totals leave out what the caller may not read) and
// lists other clients' transfer ids in flight, and it walks every shard: like the
// settlement listing it takes an admin token (401 without, 403 with a wrong one, the
// source not run in either case). It needed none before: GET /v1/reconcile answered 200
// to anyone the allow-list let in.
func TestReconcileNeedsAdminToken(t *testing.T) {
	var calls atomic.Int64
	sources := newFakeSources().sources()
	sources.Reconcile = func(ctx context.Context) (any, error) {
		calls.Add(1)
		return map[string]any{"ok": true}, nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	url := "http://" + server.Address() + PathReconcile
	for _, c := range []struct {
		token string
		code  int
		want  string
	}{{"", http.StatusUnauthorized, CodeUnauthorized},
		{"guess", http.StatusForbidden, CodeForbidden}} {
		r := call(t, nil, http.MethodGet, url, c.token, nil, nil)
		if r.code != c.code || r.reply(t).Code != c.want {
			t.Errorf("token %q: %d %s", c.token, r.code, r.body)
		}
	}
	if ran := calls.Load(); ran != 0 {
		t.Fatalf("the reconcile source ran %d times without a valid token", ran)
	}
	if r := call(t, nil, http.MethodGet, url, testTokens["bob"], nil, nil); r.code != http.StatusOK {
		t.Errorf("with the token: %d %s", r.code, r.body)
	}
	if ran := calls.Load(); ran != 1 {
		t.Fatalf("the reconcile source ran %d times with a valid token, want 1", ran)
	}
}
