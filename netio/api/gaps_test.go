package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/core/model"
)

// TestNonceCacheFullWaitAndForget: a refusal for a full cache says how long until room
// is made (never more than twice the window and a millisecond: the longest a nonce is
// kept), and nonces that expire leave no trace of their client behind (the per-client
// counts stay bounded by the clients that hold nonces now).
func TestNonceCacheFullWaitAndForget(t *testing.T) {
	window := 2 * time.Second
	cache := newNonceCache(window, 2) // One nonce per client.
	start := time.Unix(1_800_000_000, 0)
	if _, err := cache.use(1, []byte("first"), start.UnixMilli(), start); err != nil {
		t.Fatal(err)
	}
	wait, err := cache.use(1, []byte("second"), start.UnixMilli(), start.Add(time.Second))
	if err != errNonceCacheFull || wait < time.Second || wait > 2*window+time.Millisecond {
		t.Fatalf("full: %v, wait %v; want nonce_cache_full within [1 s, %v]", err, wait,
			2*window+time.Millisecond)
	}
	later := start.Add(window + time.Millisecond)
	for i := range cache.shards {
		cache.expire(&cache.shards[i], later.UnixMilli())
	}
	if cache.total != 0 || len(cache.counts) != 0 {
		t.Fatalf("after expiry: %d nonces, counts of %d clients", cache.total, len(cache.counts))
	}
}

// TestNextPageKeepsTheFilter: the Link to the next page asks for the same page size,
// order, side and code as the page it follows, continuing after (or before) its last
// transfer.
func TestNextPageKeepsTheFilter(t *testing.T) {
	const last = 1_700_000_000_000_000_000
	for _, filter := range []model.AccountFilter{
		{Limit: 2, Flags: model.FilterDebits | model.FilterCredits | model.FilterReversed},
		{Limit: 7, Flags: model.FilterDebits, Code: 42},
		{Limit: 1, Flags: model.FilterCredits | model.FilterReversed, Code: 65535},
	} {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetRequestURI("/v1/accounts/1/transfers")
		uri := nextPage(ctx, filter, last)
		var args fasthttp.Args
		args.Parse(uri[strings.IndexByte(uri, '?')+1:])
		got, err := parseFilter(&args)
		want := filter
		if filter.Flags&model.FilterReversed != 0 {
			want.TimestampMax = last - 1
		} else {
			want.TimestampMin = last + 1
		}
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", uri, got, err, want)
		}
	}
}

// TestRefusedBodiesAndQueries: an unknown order, a batch above the protocol's event
// limit, and accounts sent under an Idempotency-Key already used for another request
// are refused with their own codes, and nothing is applied.
func TestRefusedBodiesAndQueries(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1")
	h.expect(h.operator("GET", "/v1/accounts/1/transfers?order=sideways", ""), 400, "bad_request")
	var batch strings.Builder
	batch.WriteString("[")
	for i := range model.EventsPerRequestMax + 1 {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"id":"%d","ledger":1,"code":1}`, 1000+i)
	}
	batch.WriteString("]")
	tooMany := h.operator("POST", "/v1/accounts", batch.String())
	h.expect(tooMany, httpStatusOf(model.StatusTooManyEvents), "too_many_events")
	h.expect(h.operator("POST", "/v1/accounts", `{"id":"2","ledger":1,"code":1}`,
		HeaderIdempotencyKey, "78:1"), 201, "")
	reused := h.operator("POST", "/v1/accounts", `{"id":"3","ledger":1,"code":1}`,
		HeaderIdempotencyKey, "78:1")
	h.expect(reused, 422, "request_number_reused")
	h.expect(h.operator("GET", "/v1/accounts/3", ""), 404, "")
	h.expect(h.operator("GET", "/v1/accounts/1000", ""), 404, "")
}

// TestTruncatedBodyReturnsItsBudget: a body that ends before its Content-Length (of a
// request whose authentication headers pass: others are refused before the body is
// read) is refused (400), and the bytes it reserved of the budget of bodies in flight are given
// back (else every such request would shrink the budget until the server answered
// busy to everyone).
func TestTruncatedBodyReturnsItsBudget(t *testing.T) {
	h := newHarness(t)
	conn, err := net.DialTimeout("tcp", h.server.Address(), waitMax)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Half of the body is sent: more than fasthttp reads ahead of the handler, so the
	// handler's own read of the stream meets its end (a body cut within the read-ahead is
	// refused by fasthttp before the handler).
	const announced = 100_000
	request := fmt.Sprintf("POST /v1/transfers HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n%s\r\n%s",
		announced, authenticationLines(t, h, "POST", "/v1/transfers"), strings.Repeat("x", announced/2))
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	response, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	refusal, _ := io.ReadAll(response.Body)
	response.Body.Close()
	if response.StatusCode != 400 || !strings.Contains(string(refusal), "ended before its Content-Length") {
		t.Fatalf("truncated body: %d %s, want 400 from the body reader", response.StatusCode, refusal)
	}
	if !h.server.bodies.TryAcquire(bodyBytesInFlightMax) {
		t.Fatal("the truncated body's bytes were not returned to the budget")
	}
	h.server.bodies.Release(bodyBytesInFlightMax)
}
