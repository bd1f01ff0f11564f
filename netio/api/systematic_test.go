package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/core/backend"
	"sequent/core/model"
)

// Systematic pass (session 25): one test per untested refusal and per bound at its exact
// value, from the coverage profile's zero-count blocks and the boundary mutants.

// TestParseDecimalBounds: digits only, "0" alone may start with a zero, at most 20
// characters, and the value must fit the bits asked for.
func TestParseDecimalBounds(t *testing.T) {
	for _, c := range []struct {
		text string
		bits int
		ok   bool
		want uint64
	}{
		{"", 64, false, 0},
		{"0", 64, true, 0},
		{"00", 64, false, 0},
		{"01", 64, false, 0},
		{"10", 64, true, 10},
		{"9", 64, true, 9},
		{"/", 64, false, 0}, // '0'-1
		{":", 64, false, 0}, // '9'+1
		{"1/", 64, false, 0},
		{"1:", 64, false, 0},
		{"18446744073709551615", 64, true, 1<<64 - 1}, // 20 characters: the longest.
		{"18446744073709551616", 64, false, 0},
		{"100000000000000000000", 64, false, 0}, // 21 characters.
		{"9223372036854775807", 63, true, 1<<63 - 1},
		{"9223372036854775808", 63, false, 0},
		{"4294967295", 32, true, 1<<32 - 1},
		{"4294967296", 32, false, 0},
	} {
		got, ok := parseDecimal([]byte(c.text), c.bits)
		if ok != c.ok || ok && got != c.want { // The value of a refusal is not used.
			t.Errorf("parseDecimal(%q, %d) = %d, %v; want %d, %v", c.text, c.bits, got, ok, c.want, c.ok)
		}
	}
}

// TestAlphabetsAtTheirEdges: each range's first and last character is allowed and the
// characters just outside are refused, for nonces, signatures and JSON keys.
func TestAlphabetsAtTheirEdges(t *testing.T) {
	edges := "azAZ09"
	outside := "`{@[/:.~ \x00\x7f"
	for _, c := range edges + "-_" {
		if !nonceAlphabet([]byte{byte(c)}) {
			t.Errorf("nonce character %q refused", c)
		}
	}
	for _, c := range outside + "+=" {
		if nonceAlphabet([]byte{'a', byte(c)}) {
			t.Errorf("nonce character %q allowed", c)
		}
	}
	for _, c := range edges + "+/=-_" {
		if !signatureAlphabet([]byte{byte(c)}) {
			t.Errorf("signature character %q refused", c)
		}
	}
	for _, c := range "`{@[:.~ \x00\x7f" {
		if signatureAlphabet([]byte{'a', byte(c)}) {
			t.Errorf("signature character %q allowed", c)
		}
	}
	for _, key := range []string{"a", "z", "0", "9", "_", "az09_"} {
		if err := checkKey(key, nil); err != nil {
			t.Errorf("key %q refused: %v", key, err)
		}
	}
	for _, key := range []string{"`", "{", "/", ":", "A", "Z", "a-b", "a.b", "ok`"} {
		if err := checkKey(key, nil); err == nil {
			t.Errorf("key %q allowed", key)
		}
	}
	if err := checkKey("id", []string{"ledger", "id"}); err == nil {
		t.Error("a key given twice is allowed")
	}
	if err := checkKey("id", []string{"ledger", "code"}); err != nil {
		t.Errorf("a new key refused: %v", err)
	}
}

// credentialHeader builds the five headers with the given nonce and signature.
func credentialHeader(client, key, timestamp, nonce, signature string) *fasthttp.RequestHeader {
	var header fasthttp.RequestHeader
	for name, value := range map[string]string{HeaderClient: client, HeaderKey: key,
		HeaderTimestamp: timestamp, HeaderNonce: nonce, HeaderSignature: signature} {
		if value != "" {
			header.Set(name, value)
		}
	}
	return &header
}

// TestParseCredentialsBounds: the nonce's 16..64 characters and the signature's 1..256,
// each at its exact bounds; zero client or key ids and a key id over 32 bits are refused.
func TestParseCredentialsBounds(t *testing.T) {
	nonce, signature := strings.Repeat("n", nonceBytesMin), strings.Repeat("s", 64)
	good := func(client, key, timestamp, nonce, signature string) {
		t.Helper()
		c, err := parseCredentials(credentialHeader(client, key, timestamp, nonce, signature))
		if err != nil {
			t.Fatalf("%s %s %s %q %q: %v", client, key, timestamp, nonce, signature, err)
		}
		if string(c.nonce) != nonce || string(c.signature) != signature {
			t.Fatalf("credentials %+v", c)
		}
	}
	bad := func(want error, client, key, timestamp, nonce, signature string) {
		t.Helper()
		if _, err := parseCredentials(credentialHeader(client, key, timestamp, nonce, signature)); err != want {
			t.Fatalf("%s %s %s %q %q: %v, want %v", client, key, timestamp, nonce, signature, err, want)
		}
	}
	good("1", "1", "0", nonce, signature)
	good("1", "4294967295", "1", strings.Repeat("n", nonceBytesMax), strings.Repeat("s", 256))
	bad(errAuthMissing, "", "", "", "", "")
	bad(errAuthMalformed, "", "1", "1", nonce, signature)
	bad(errAuthMalformed, "0", "1", "1", nonce, signature)
	bad(errAuthMalformed, "1", "0", "1", nonce, signature)
	bad(errAuthMalformed, "1", "4294967296", "1", nonce, signature)
	bad(errAuthMalformed, "1", "1", "9223372036854775808", nonce, signature)
	bad(errAuthMalformed, "1", "1", "-1", nonce, signature)
	bad(errAuthMalformed, "1", "1", "1", strings.Repeat("n", nonceBytesMin-1), signature)
	bad(errAuthMalformed, "1", "1", "1", strings.Repeat("n", nonceBytesMax+1), signature)
	bad(errAuthMalformed, "1", "1", "1", nonce+".", signature)
	bad(errAuthMalformed, "1", "1", "1", nonce, "")
	bad(errAuthMalformed, "1", "1", "1", nonce, strings.Repeat("s", 257))
	bad(errAuthMalformed, "1", "1", "1", nonce, signature+".")
}

// TestInWindowAtItsEdges: exactly the window away is in, one millisecond more is out,
// on both sides.
func TestInWindowAtItsEdges(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	window := 30 * time.Second
	for _, c := range []struct {
		offsetMs int64
		in       bool
	}{{0, true}, {30_000, true}, {-30_000, true}, {30_001, false}, {-30_001, false}} {
		if got := inWindow(now.UnixMilli()+c.offsetMs, now, window); got != c.in {
			t.Errorf("offset %d ms: in window %v, want %v", c.offsetMs, got, c.in)
		}
	}
}

// TestConfigBounds: every Validate refusal, each bound at its exact value, and New
// refusing a bad configuration or a nil backend.
func TestConfigBounds(t *testing.T) {
	keys, _ := testKeys(t)
	valid := func(change func(*Config)) error {
		c := Config{Address: "127.0.0.1:0", Keys: keys}
		change(&c)
		return c.Validate()
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no keys", func(c *Config) { c.Keys = nil }, false},
		{"window 1s", func(c *Config) { c.ClockWindow = time.Second }, true},
		{"window below 1s", func(c *Config) { c.ClockWindow = time.Second - time.Nanosecond }, false},
		{"window max", func(c *Config) { c.ClockWindow = ClockWindowMax }, true},
		{"window above max", func(c *Config) { c.ClockWindow = ClockWindowMax + time.Nanosecond }, false},
		{"nonces 1024", func(c *Config) { c.NoncesMax = 1024 }, true},
		{"nonces 1023", func(c *Config) { c.NoncesMax = 1023 }, false},
		{"in flight 1", func(c *Config) { c.InFlightMax = 1 }, true},
		{"in flight -1", func(c *Config) { c.InFlightMax = -1 }, false},
		{"in flight limit", func(c *Config) { c.InFlightMax = InFlightMaxLimit }, true},
		{"in flight above limit", func(c *Config) { c.InFlightMax = InFlightMaxLimit + 1 }, false},
		{"reply timeout 1ms", func(c *Config) { c.ReplyTimeout = time.Millisecond }, true},
		{"reply timeout below 1ms", func(c *Config) { c.ReplyTimeout = time.Millisecond - 1 }, false},
		{"address without port", func(c *Config) { c.Address = "localhost" }, false},
		{"listener given, address unused", func(c *Config) {
			c.Address = "localhost"
			c.Listener = &net.TCPListener{}
		}, true},
	} {
		if err := valid(c.change); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		}
	}
	if c := (Config{}).withDefaults(); c.Address != AddressDefault {
		t.Errorf("default address %q", c.Address)
	}
	if _, err := New(Config{}, heldBackend{}); err == nil {
		t.Error("New without keys succeeded")
	}
	if _, err := New(Config{Address: "127.0.0.1:0", Keys: keys}, nil); err == nil {
		t.Error("New without a backend succeeded")
	}
}

// TestStartAndShutdownEdges: Shutdown of a server never started is nil; Start on an
// address in use fails.
func TestStartAndShutdownEdges(t *testing.T) {
	keys, _ := testKeys(t)
	idle, err := New(Config{Address: "127.0.0.1:0", Keys: keys}, heldBackend{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy, err := New(Config{Address: taken.Addr().String(), Keys: keys}, heldBackend{})
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Start(); err == nil {
		_ = busy.Shutdown(context.Background())
		t.Fatal("Start on an address in use succeeded")
	}
}

// TestHTTPStatusOfEveryMappedStatus: the mapping of the statuses no request reaches in
// the other tests.
func TestHTTPStatusOfEveryMappedStatus(t *testing.T) {
	for status, want := range map[model.Status]int{
		model.StatusPermissionDenied:    403,
		model.StatusRequestTooOld:       409,
		model.StatusInternalError:       500,
		model.StatusRateLimited:         429,
		model.StatusBusy:                503,
		model.StatusNotPrimary:          503,
		model.StatusShuttingDown:        503,
		model.StatusLogUnavailable:      503,
		model.StatusOutcomeUnknown:      503,
		model.StatusRequestNumberReused: 422,
		model.StatusAccountNotFound:     404,
		model.StatusTooManyEvents:       400,
	} {
		if got := httpStatusOf(status); got != want {
			t.Errorf("%v: HTTP %d, want %d", status, got, want)
		}
	}
}

// TestDecodeRefusals: an empty or blank body, and data after the value.
func TestDecodeRefusals(t *testing.T) {
	for _, body := range []string{"", "  \n\t"} {
		if _, _, err := decodeOneOrMany[resolveBody]([]byte(body)); err == nil {
			t.Errorf("body %q decoded", body)
		}
	}
	for _, body := range []string{`{"id":"1"} {"id":"2"}`, `{"id":"1"} x`, `[{"id":"1"}] []`, `{"id":"1"} 1`} {
		var v resolveBody
		if err := decodeStrict([]byte(body), &v); err == nil {
			t.Errorf("body %q decoded", body)
		}
	}
	items, single, err := decodeOneOrMany[resolveBody]([]byte(` [{"id":"1"},{"id":"2"}] `))
	if err != nil || single || len(items) != 2 || items[1].ID != "2" {
		t.Errorf("array: %v %v %v", items, single, err)
	}
	items, single, err = decodeOneOrMany[resolveBody]([]byte(` {"id":"1"} `))
	if err != nil || !single || len(items) != 1 || items[0].ID != "1" {
		t.Errorf("object: %v %v %v", items, single, err)
	}
}

// TestTrailingCloserIsRefused: decodeStrict promises "nothing after" the value. A stray
// closing bracket or brace after it was accepted (the decoder's Token reports it as an
// error, which the old check read as "nothing left"); so was a form feed, which is not
// JSON whitespace. Trailing JSON whitespace stays accepted.
func TestTrailingCloserIsRefused(t *testing.T) {
	for _, body := range []string{"{\"id\":\"1\"} \r\n\t", "{\"id\":\"1\"}"} {
		var v resolveBody
		if err := decodeStrict([]byte(body), &v); err != nil {
			t.Errorf("body %q refused: %v", body, err)
		}
	}
	for _, body := range []string{`{"id":"1"}]`, `{"id":"1"}}`, "{\"id\":\"1\"}\f", `{"id":"1"} ]`} {
		var v resolveBody
		if err := decodeStrict([]byte(body), &v); err == nil {
			t.Errorf("body %q decoded", body)
		}
	}
}

// recordingReplier remembers the replies handed to the binary server.
type recordingReplier struct {
	batches [][]uint64
	reports int
}

func (r *recordingReplier) Deliver(replies []backend.Reply) {
	var ids []uint64
	for _, reply := range replies {
		ids = append(ids, reply.Connection)
	}
	r.batches = append(r.batches, ids)
}
func (r *recordingReplier) DeliverReports(reports []backend.Report) { r.reports += len(reports) }

// TestReplierSplitsReplies: a batch of binary replies passes through whole; a mixed one
// goes to the API's waiters and the rest, in order, to the binary server; an API-only
// batch sends the binary server nothing; the connection id bounds are exact; reports
// go to the binary server.
func TestReplierSplitsReplies(t *testing.T) {
	keys, _ := testKeys(t)
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys}, heldBackend{})
	if err != nil {
		t.Fatal(err)
	}
	binary := &recordingReplier{}
	replier := NewReplier(binary, server)
	if isAPIConnection(connectionIDFirst-1) || !isAPIConnection(connectionIDFirst) ||
		!isAPIConnection(connectionIDEnd-1) || isAPIConnection(connectionIDEnd) {
		t.Fatal("isAPIConnection bounds")
	}
	replier.Deliver([]backend.Reply{{Connection: 1}, {Connection: 2}})
	first, channelA := server.waiters.add()
	second, channelB := server.waiters.add()
	replier.Deliver([]backend.Reply{{Connection: 3}, {Connection: first, Op: 7, Body: []byte("x")},
		{Connection: 4}, {Connection: second, Status: model.StatusBusy}, {Connection: connectionIDEnd}})
	replier.Deliver([]backend.Reply{{Connection: first + 100}}) // Nobody waits: dropped.
	want := [][]uint64{{1, 2}, {3, 4, connectionIDEnd}}
	if len(binary.batches) != len(want) {
		t.Fatalf("binary batches %v, want %v", binary.batches, want)
	}
	for i := range want {
		if len(binary.batches[i]) != len(want[i]) {
			t.Fatalf("binary batches %v, want %v", binary.batches, want)
		}
		for j := range want[i] {
			if binary.batches[i][j] != want[i][j] {
				t.Fatalf("binary batches %v, want %v", binary.batches, want)
			}
		}
	}
	if a := <-channelA; a.op != 7 || string(a.body) != "x" {
		t.Fatalf("first answer %+v", a)
	}
	if b := <-channelB; b.status != model.StatusBusy {
		t.Fatalf("second answer %+v", b)
	}
	if got := server.Stats().RepliesDropped; got != 1 {
		t.Fatalf("replies dropped %d, want 1", got)
	}
	replier.DeliverReports(make([]backend.Report, 3))
	if binary.reports != 3 {
		t.Fatalf("reports %d, want 3", binary.reports)
	}
}

// TestWaiterIDsWrapBelowTheEnd: after the last id below connectionIDEnd the next is
// connectionIDFirst+1, never an id the binary server or the router uses.
func TestWaiterIDsWrapBelowTheEnd(t *testing.T) {
	w := newWaiters()
	w.id = connectionIDEnd - 2
	if id, _ := w.add(); id != connectionIDEnd-1 {
		t.Fatalf("id %d, want %d", id, uint64(connectionIDEnd-1))
	}
	if id, _ := w.add(); id != connectionIDFirst+1 {
		t.Fatalf("id %d after the end, want %d", id, uint64(connectionIDFirst+1))
	}
	if _, ok := w.take(connectionIDEnd - 1); !ok {
		t.Fatal("the last id's waiter is missing")
	}
}

// TestBadBodiesApplyNothing: every 400 of the write routes on a body that does not parse
// or names an invalid value, each followed by a look that nothing was applied.
func TestBadBodiesApplyNothing(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, c := range []struct{ name, uri, body string }{
		{"accounts: malformed JSON", "/v1/accounts", `{"id":"7","ledger":1,`},
		{"accounts: invalid id", "/v1/accounts", `[{"id":"7","ledger":1,"code":1},{"id":"x","ledger":1,"code":1}]`},
		{"accounts: blank body", "/v1/accounts", `   `},
		{"transfers: trailing data", "/v1/transfers",
			`{"id":"7","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1} {}`},
		{"post: pending id not a number", "/v1/transfers/x/post", `{"id":"7"}`},
		{"post: malformed JSON", "/v1/transfers/1/post", `{"id":`},
		{"post: unknown field", "/v1/transfers/1/post", `{"id":"7","credit_account_id":"2"}`},
		{"post: invalid amount", "/v1/transfers/1/post", `{"id":"7","amount":"-3"}`},
		{"void: no new id", "/v1/transfers/1/void", `{}`},
		{"conversion: malformed JSON", "/v1/conversions", `{"id":"7",`},
		{"conversion: invalid payer", "/v1/conversions", `{"id":"7","payer":"x","payee":"2",
			"source_liquidity":"1","target_liquidity":"2","source_ledger":1,"target_ledger":1,
			"source_scale":2,"target_scale":2,"rate":"1","quote_id":"9","code":5,"amount":"100"}`},
		{"conversion: invalid rate", "/v1/conversions", `{"id":"7","payer":"1","payee":"2",
			"source_liquidity":"1","target_liquidity":"2","source_ledger":1,"target_ledger":1,
			"source_scale":2,"target_scale":2,"rate":"fast","quote_id":"9","code":5,"amount":"100"}`},
	} {
		r := h.operator("POST", c.uri, c.body)
		if r.code != 400 || r.errorCode(t) != "bad_request" {
			t.Errorf("%s: HTTP %d %s, want 400 bad_request", c.name, r.code, r.body)
		}
	}
	h.expect(h.operator("GET", "/v1/accounts/7", ""), 404, "")
	h.expect(h.operator("GET", "/v1/transfers/7", ""), 404, "")
	h.expect(h.operator("GET", "/v1/transfers/8", ""), 404, "") // A conversion's second leg.
}

// TestLookupAndQueryRefusals: an empty lookup is empty_request; each side and its
// refusal; the page limit at 1, at EventsPerRequestMax and one beyond; of two bad query
// arguments the first is named; a path with an empty {id} segment is no route; a
// malformed Idempotency-Key is refused and applies nothing.
func TestLookupAndQueryRefusals(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/accounts/lookup", `{"ids":[]}`), 400, "empty_request")
	h.expect(h.operator("POST", "/v1/transfers/lookup", `{"ids":["10"]`), 400, "bad_request")
	for _, c := range []struct {
		query string
		code  int
		count int
	}{
		{"side=both", 200, 1}, {"side=debits", 200, 1}, {"side=credits", 200, 0},
		{"side=left", 400, 0}, {"limit=1", 200, 1},
		{"limit=" + itoa(model.EventsPerRequestMax), 200, 1},
		{"limit=" + itoa(model.EventsPerRequestMax+1), 400, 0}, {"limit=0", 400, 0},
		{"limit=01", 400, 0}, {"code=1", 200, 1}, {"code=2", 200, 0},
	} {
		r := h.operator("GET", "/v1/accounts/1/transfers?"+c.query, "")
		if r.code != c.code {
			t.Errorf("%s: HTTP %d %s, want %d", c.query, r.code, r.body, c.code)
			continue
		}
		if c.code == 200 {
			if records := decode[[]map[string]any](t, r); len(records) != c.count {
				t.Errorf("%s: %d records, want %d: %s", c.query, len(records), c.count, r.body)
			}
		}
	}
	two := h.operator("GET", "/v1/accounts/1/transfers?side=left&order=up", "")
	h.expect(two, 400, "bad_request")
	if !strings.Contains(string(two.body), "side") || strings.Contains(string(two.body), "order") {
		t.Fatalf("two bad arguments: %s", two.body)
	}
	h.expect(h.operator("GET", "/v1/accounts/x/balances", ""), 400, "bad_request")
	// fasthttp folds "//" into "/", so the empty {id} is reached with a trailing slash
	// over HTTP, and with "//" through match itself.
	h.expect(h.operator("GET", "/v1/accounts/", ""), 404, "not_found")
	h.expect(h.operator("GET", "/v1/transfers/", ""), 404, "not_found")
	if _, _, status := match("GET", "/v1/accounts//transfers"); status != 404 {
		t.Fatalf("empty {id} segment: %d, want 404", status)
	}
	h.expect(h.operator("POST", "/v1/accounts", `{"id":"3","ledger":1,"code":1}`,
		HeaderIdempotencyKey, "781"), 400, "bad_idempotency_key")
	h.expect(h.operator("GET", "/v1/accounts/3", ""), 404, "")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRefusingBackendOnEveryRoute: when the shard refuses (not_primary), the listing and
// the conversion answer its refusal too, with the primary's address when configured.
func TestRefusingBackendOnEveryRoute(t *testing.T) {
	keys, _ := testKeys(t)
	server := startServer(t, Config{Address: "127.0.0.1:0", Keys: keys,
		PrimaryAddress: func() string { return "10.1.2.3:7000" }}, heldBackend{status: model.StatusNotPrimary})
	h := &harness{t: t, server: server, base: "http://" + server.Address(), clock: &testClock{},
		http: &http.Client{Timeout: 10 * time.Second}}
	conversion := `{"id":"500","payer":"1","payee":"2","source_liquidity":"90","target_liquidity":"91",
		"source_ledger":1,"target_ledger":2,"source_scale":2,"target_scale":2,"rate":"0.9234",
		"quote_id":"7001","code":5,"amount":"10000"}`
	for _, r := range []response{
		h.operator("GET", "/v1/accounts/1/transfers", ""),
		h.operator("POST", "/v1/conversions", conversion),
		h.operator("POST", "/v1/accounts", `{"id":"3","ledger":1,"code":1}`),
	} {
		h.expect(r, 503, "not_primary")
		if e := decode[Error](t, r); e.Primary != "10.1.2.3:7000" {
			t.Fatalf("not_primary without the primary: %s", r.body)
		}
	}
}

// TestOversizeHeadersAre431: request headers over headerBytesMax are refused with 431.
func TestOversizeHeadersAre431(t *testing.T) {
	h := newHarness(t)
	request := "GET /v1/time HTTP/1.1\r\nHost: x\r\nX-Filler: " + strings.Repeat("a", headerBytesMax+1) + "\r\n\r\n"
	answer, body := rawExchange(t, h.server.Address(), []byte(request), false)
	if answer.StatusCode != 431 || !strings.Contains(string(body), "too_large") {
		t.Fatalf("HTTP %d %s, want 431 too_large", answer.StatusCode, body)
	}
}

// TestLookupAtTheEventsBound: a lookup of exactly EventsPerRequestMax ids is served (the
// ones that exist are returned), one more id is too_many_events.
func TestLookupAtTheEventsBound(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1")
	ids := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"ids":[`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + itoa(i+1) + `"`)
		}
		b.WriteString("]}")
		return b.String()
	}
	r := h.operator("POST", "/v1/accounts/lookup", ids(model.EventsPerRequestMax))
	h.expect(r, 200, "")
	if records := decode[[]map[string]any](t, r); len(records) != 1 || records[0]["id"] != "1" {
		t.Fatalf("lookup at the bound: %s", r.body)
	}
	h.expect(h.operator("POST", "/v1/accounts/lookup", ids(model.EventsPerRequestMax+1)), 400, "too_many_events")
}

// TestSignatureEncodings: an ECDSA signature that is not standard base64 (the URL
// alphabet passes the header's alphabet) is bad_signature and applies nothing; an HMAC
// signature in upper-case hex verifies.
func TestSignatureEncodings(t *testing.T) {
	h := newHarness(t)
	body := `{"id":"7","ledger":1,"code":1}`
	request, err := http.NewRequest("POST", h.base+"/v1/accounts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.signer(ecdsaClient).Sign(request.Header, "POST", "/v1/accounts", []byte(body)); err != nil {
		t.Fatal(err)
	}
	request.Header.Set(HeaderSignature, "MEUC-_==")
	h.expect(h.send(request), 401, "bad_signature")
	h.expect(h.operator("GET", "/v1/accounts/7", ""), 404, "")

	request, err = http.NewRequest("POST", h.base+"/v1/accounts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.signer(operatorClient).Sign(request.Header, "POST", "/v1/accounts", []byte(body)); err != nil {
		t.Fatal(err)
	}
	request.Header.Set(HeaderSignature, strings.ToUpper(request.Header.Get(HeaderSignature)))
	h.expect(h.send(request), 201, "")
}

// TestStatsCountEachOutcome: each answer counts once in Requests, an authentication
// failure in AuthFailures, a refusal after it in Refused (busy ones in Busy too,
// rate_limited ones in RateLimited), and a reply that does not come in Timeouts.
func TestStatsCountEachOutcome(t *testing.T) {
	h := newHarness(t)
	h.expect(h.do(nil, "GET", "/v1/time", ""), 200, "")
	h.expect(h.do(nil, "GET", "/v1/accounts/1", ""), 401, "missing_authentication")
	h.expect(h.operator("GET", "/v1/nowhere", ""), 404, "not_found")
	h.expect(h.operator("POST", "/v1/accounts", `{"id":`), 400, "bad_request")
	h.expect(h.operator("POST", "/v1/accounts", `{"id":"1","ledger":1,"code":1}`), 201, "")
	if got, want := h.server.Stats(), (Stats{Requests: 5, AuthFailures: 1, Refused: 2}); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}

	keys, _ := testKeys(t)
	for _, c := range []struct {
		status model.Status
		want   Stats
		code   string
	}{
		{model.StatusBusy, Stats{Requests: 1, Refused: 1, Busy: 1}, "busy"},
		{model.StatusRateLimited, Stats{Requests: 1, Refused: 1, RateLimited: 1}, "rate_limited"},
		{model.StatusOK, Stats{Requests: 1, Timeouts: 1}, "outcome_unknown"}, // Never answers.
	} {
		server := startServer(t, Config{Address: "127.0.0.1:0", Keys: keys, ReplyTimeout: 20 * time.Millisecond},
			heldBackend{status: c.status})
		other := &harness{t: t, server: server, base: "http://" + server.Address(), clock: h.clock, http: h.http}
		statusCode := 503
		if c.status == model.StatusRateLimited {
			statusCode = 429
		}
		other.expect(other.operator("GET", "/v1/accounts/1", ""), statusCode, c.code)
		if got := server.Stats(); got != c.want {
			t.Errorf("%s: stats %+v, want %+v", c.code, got, c.want)
		}
	}
}

// TestBodyOfExactlyTheMaximumIsRead: a body of exactly requestBodyBytesMax is taken (and
// refused for its missing authentication, its body then dropped unread by the handler:
// discardBodyAfterAnswer), not 413 (one byte more: TestBodyLimits).
func TestBodyOfExactlyTheMaximumIsRead(t *testing.T) {
	h := newHarness(t)
	headers := "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
	body := strings.Repeat(" ", requestBodyBytesMax)
	answer, text := rawExchange(t, h.server.Address(), []byte(headers+itoa(requestBodyBytesMax)+"\r\n\r\n"+body), false)
	if answer.StatusCode != 401 || !strings.Contains(string(text), "missing_authentication") {
		t.Fatalf("body of the maximum: HTTP %d %s, want 401 missing_authentication", answer.StatusCode, text)
	}
}

// TestNonceCountsStayExactAcrossExpiry: after a generation of nonces expires and the
// queues are reclaimed, a new generation is counted once per nonce (total and per
// client), and its nonces are still refused as replays; an expired entry is never
// forgotten twice.
func TestNonceCountsStayExactAcrossExpiry(t *testing.T) {
	const window = time.Second
	c := newNonceCache(window, 1<<16)
	start := time.UnixMilli(1_800_000_000_000)
	nonce := func(generation, i int) []byte {
		return []byte("nonce-" + itoa(generation) + "-" + itoa(i) + "-padding")
	}
	const n = 300
	for i := range n {
		if _, err := c.use(operatorClient, nonce(0, i), start.UnixMilli(), start); err != nil {
			t.Fatal(err)
		}
	}
	later := start.Add(2*window + time.Millisecond)
	for generation := 1; generation <= 3; generation++ {
		for i := range n {
			if _, err := c.use(operatorClient, nonce(generation, i), later.UnixMilli(), later); err != nil {
				t.Fatal(err)
			}
		}
		for i := range c.shards { // Expiry is lazy, per shard: finish it everywhere.
			c.shards[i].mu.Lock()
			c.expire(&c.shards[i], later.UnixMilli())
			c.shards[i].mu.Unlock()
		}
		c.countsMu.Lock()
		total, counted := c.total, c.counts[operatorClient]
		c.countsMu.Unlock()
		if want := generation * n; total != want || counted != want {
			t.Fatalf("generation %d: total %d, client's %d, want %d", generation, total, counted, want)
		}
	}
	if _, err := c.use(operatorClient, nonce(1, 7), later.UnixMilli(), later); err != errNonceReplayed {
		t.Fatalf("a live nonce again: %v, want errNonceReplayed", err)
	}
}

// TestNilLoggerTakesTheDefault: a Config without a Logger serves refusals (which log)
// with slog's default logger instead of failing.
func TestNilLoggerTakesTheDefault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Logger = nil })
	h.expect(h.do(nil, "GET", "/v1/accounts/1", ""), 401, "missing_authentication")
	h.expect(h.operator("GET", "/v1/nowhere", ""), 404, "not_found")
}
