package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/netio/jsonkeys"
	"sequent/netio/jsonview"
)

// FuzzCredentials feeds arbitrary header values to the authentication parser and the
// signature check: they must refuse what is malformed with an error, never panic, and
// never accept a signature they did not compute (the secret is not in the input).
func FuzzCredentials(f *testing.F) {
	keys, _ := testKeys(f)
	client, _ := keys.Client(operatorClient)
	f.Add("1", "1", "1700000000000", "0123456789abcdef", "00ff", "/v1/transfers", []byte("{}"))
	f.Add("01", "", "-1", "short", "+/=", "/v1/accounts/1?x=1", []byte(nil))
	f.Add("18446744073709551615", "4294967295", "9223372036854775807",
		"________________________________________________________________", "AAAA", "/", []byte("x"))
	f.Fuzz(func(t *testing.T, clientID, key, timestamp, nonce, signature, uri string, body []byte) {
		var header fasthttp.RequestHeader
		header.Set(HeaderClient, clientID)
		header.Set(HeaderKey, key)
		header.Set(HeaderTimestamp, timestamp)
		header.Set(HeaderNonce, nonce)
		header.Set(HeaderSignature, signature)
		c, err := parseCredentials(&header)
		if err != nil {
			return
		}
		if c.client == 0 || c.key == 0 || len(c.nonce) < nonceBytesMin || len(c.nonce) > nonceBytesMax {
			t.Fatalf("accepted %+v", c)
		}
		message := appendStringToSign(nil, c.version, []byte("POST"), []byte(uri), c.client,
			c.key, c.timestamp, c.nonce, body, nil)
		if verify(client, &c, message) == nil && c.key == 1 {
			if SignHMAC(testSecret, message) != string(c.signature) {
				t.Fatalf("a signature that is not the HMAC verified: %s", c.signature)
			}
		}
		_ = inWindow(c.timestamp, time.Now(), ClockWindowDefault)
	})
}

// FuzzIdempotencyKey: the key parser accepts exactly two decimal numbers above zero.
func FuzzIdempotencyKey(f *testing.F) {
	f.Add("5:1")
	f.Add("0:1")
	f.Add("18446744073709551616:1")
	f.Fuzz(func(t *testing.T, key string) {
		session, number, ok := parseIdempotencyKey([]byte(key))
		if ok && (session == 0 || number == 0) {
			t.Fatalf("%q accepted as %d:%d", key, session, number)
		}
	})
}

// FuzzBodies feeds arbitrary bytes to every body decoder of the API (transfers and
// accounts, one or many; lookups; post and void; conversions) and the query parser of
// the listings: errors, never panics; what decodes converts or is refused with an error.
func FuzzBodies(f *testing.F) {
	f.Add([]byte(`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1}`),
		"limit=2&order=oldest&after=5")
	f.Add([]byte(`[{"id":"1","ledger":1,"code":1,"flags":8}]`), "side=debits&code=3")
	f.Add([]byte(`{"ids":["1","0x2"]}`), "before=18446744073709551615")
	f.Add([]byte(`{"id":"500","payer":"1","payee":"2","source_liquidity":"90","target_liquidity":"91",
		"source_ledger":1,"target_ledger":2,"source_scale":2,"target_scale":2,"rate":"0.9234",
		"quote_id":"7001","code":5,"amount":"10000"}`), "limit=0")
	f.Add([]byte(`{"id":"3","amount":"max"}`), "order=sideways")
	f.Add([]byte(`{"\u0069d":"3","":1,"a":{"b":[{"c":1,"c":2}]}}`), "limit=1")
	f.Add([]byte(`[{"id":"4","amount":"1","Amount":"2","a\u006dount":"3"},{"x":{"y":[{"z":1}]}}]`), "before=1")
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		if checkKeys(body) == nil && bytes.Contains(body, []byte(`"Amount"`)) && json.Valid(body) &&
			!bytes.Contains(body, []byte(`\"Amount\"`)) {
			var probe map[string]json.RawMessage
			if json.Unmarshal(body, &probe) == nil && probe["Amount"] != nil {
				t.Fatalf("checkKeys passed an object with the key Amount: %q", body)
			}
		}
		// The API's key check and netio/jsonkeys read any valid JSON alike but for the
		// API's own bounds (TestHunt52cKeyCheckersAgree).
		if json.Valid(body) {
			apiErr, keysErr := checkKeys(body), jsonkeys.Check(body)
			apiBound := errors.Is(apiErr, errTooManyElements) ||
				apiErr != nil && strings.Contains(apiErr.Error(), "an object of more than")
			if (apiErr == nil) != (keysErr == nil) && !apiBound {
				t.Fatalf("%q: the API's key check says %v, jsonkeys %v", body, apiErr, keysErr)
			}
		}
		if transfers, _, err := decodeOneOrMany[jsonview.Transfer](body); err == nil {
			for i := range transfers {
				_, _ = transfers[i].Model()
			}
		}
		if accounts, _, err := decodeOneOrMany[jsonview.Account](body); err == nil {
			for i := range accounts {
				_, _ = accounts[i].Model()
			}
		}
		var ids idsBody
		if decodeStrict(body, &ids) == nil {
			for _, id := range ids.IDs {
				_, _ = jsonview.ParseID("ids", id)
			}
		}
		var resolve resolveBody
		_ = decodeStrict(body, &resolve)
		var conversion ConversionRequest
		if decodeStrict(body, &conversion) == nil {
			if c, err := conversion.conversion(); err == nil {
				_, _ = c.Plan()
			}
		}
		var args fasthttp.Args
		args.Parse(query)
		if filter, err := parseFilter(&args); err == nil &&
			(filter.Limit == 0 || filter.Limit > 8189) {
			t.Fatalf("query %q gave limit %d", query, filter.Limit)
		}
	})
}

// FuzzRequests sends arbitrary methods, URIs, bodies and Idempotency-Keys through the
// whole server — allow-list, router, body reading, authentication (the request is
// signed with the operator's key, so the handlers behind it are reached), the handlers
// and a real shard — and checks every answer: a JSON error or result (the OpenAPI
// document aside), never a 500, never a panic.
func FuzzRequests(f *testing.F) {
	h := newHarness(f)
	h.createAccounts("1", "2")
	f.Add("POST", "/v1/transfers", []byte(`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1}`), "")
	f.Add("POST", "/v1/accounts", []byte(`[{"id":"3","ledger":1,"code":1,"flags":8}]`), "5:1")
	f.Add("GET", "/v1/accounts/1/transfers?limit=2&order=oldest", []byte(nil), "")
	f.Add("POST", "/v1/transfers/10/post", []byte(`{"id":"11"}`), "x")
	f.Add("POST", "/v1/accounts/lookup", []byte(`{"ids":["1","2"]}`), "")
	f.Add("DELETE", "/v1/time", []byte(nil), "")
	signer := h.signer(operatorClient)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	f.Fuzz(func(t *testing.T, method, uri string, body []byte, idempotencyKey string) {
		var request fasthttp.Request
		request.Header.SetMethod(method)
		request.SetRequestURI(uri)
		request.SetBody(body)
		if idempotencyKey != "" {
			request.Header.Set(HeaderIdempotencyKey, idempotencyKey)
		}
		header := http.Header{}
		if idempotencyKey != "" {
			// As the server reads it (fasthttp trims the value), so that it is signed.
			header.Set(HeaderIdempotencyKey, string(request.Header.Peek(HeaderIdempotencyKey)))
		}
		if err := signer.Sign(header, string(request.Header.Method()), string(request.RequestURI()), body); err != nil {
			t.Fatal(err)
		}
		for name, values := range header {
			request.Header.Set(name, values[0])
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&request, remote, nil)
		h.server.handle(&ctx)
		code := ctx.Response.StatusCode()
		answer := ctx.Response.Body()
		if code == fasthttp.StatusInternalServerError || code < 200 || code > 599 {
			t.Fatalf("%s %q: HTTP %d %s", method, uri, code, answer)
		}
		if string(ctx.Request.URI().Path()) != "/v1/openapi.json" && !json.Valid(answer) {
			t.Fatalf("%s %q: HTTP %d, not JSON: %q", method, uri, code, answer)
		}
	})
}
