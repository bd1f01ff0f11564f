package api

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAPI53IdempotencyKeyGivenTwiceIsRefused: a write carrying Idempotency-Key twice (the
// same name in any case), or besides it or alone its underscore twin Idempotency_Key, is
// refused 400 bad_idempotency_key and nothing is applied. The server read (and signed)
// the first copy; a gateway deduplicating retries by the last, or CGI-style by
// HTTP_IDEMPOTENCY_KEY, saw another key, so a retry it let through as new could be
// applied a second time under the first. Once, the same write is applied.
func TestAPI53IdempotencyKeyGivenTwiceIsRefused(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	signer := h.signer(operatorClient)
	for _, extra := range [][2]string{
		{HeaderIdempotencyKey, "7:2"},
		{"idempotency-key", "7:2"},
		{HeaderIdempotencyKey, ""},
		{"Idempotency_Key", "7:2"},
		{"IDEMPOTENCY_KEY", "7:1"},
		{"idempotency_key", "7:2"},
	} {
		request := signedTransfer(h, signer, "7:1")
		// net/http sends each name of the map as given: a lower-case name is a field of
		// its own besides the canonical one.
		request.Header[extra[0]] = append(request.Header[extra[0]], extra[1])
		r := h.send(request)
		if r.code != 400 || r.errorCode(t) != "bad_idempotency_key" {
			t.Errorf("Idempotency-Key: 7:1 and %s: %q: HTTP %d %s, want 400 "+
				"bad_idempotency_key", extra[0], extra[1], r.code, r.body)
		}
	}
	// The twin alone: the server would number the write itself, a CGI-style gateway
	// would deduplicate it under 7:2.
	request := signedTransfer(h, signer, "")
	request.Header["Idempotency_Key"] = []string{"7:2"}
	if r := h.send(request); r.code != 400 || r.errorCode(t) != "bad_idempotency_key" {
		t.Errorf("Idempotency_Key alone: HTTP %d %s, want 400 bad_idempotency_key",
			r.code, r.body)
	}
	expectNotApplied(h)
	// Other underscore headers are not this server's business.
	request = signedTransfer(h, signer, "7:1")
	request.Header["Idempotency_Keys"] = []string{"7:2"}
	h.expect(h.send(request), 201, "")
}

// TestAPI53IdempotencyKeyCountedWithoutAllocating: the once-only check of the
// Idempotency-Key costs no allocation per request.
func TestAPI53IdempotencyKeyCountedWithoutAllocating(t *testing.T) {
	var header fasthttp.RequestHeader
	header.Set(HeaderClient, "1")
	header.Set(HeaderIdempotencyKey, "7:1")
	header.Set("X_Trace_Id", "1")
	if idempotencyKeyRepeated(&header) {
		t.Fatal("one Idempotency-Key read as repeated")
	}
	if allocations := testing.AllocsPerRun(100, func() {
		_ = idempotencyKeyRepeated(&header)
	}); allocations != 0 {
		t.Errorf("idempotencyKeyRepeated: %v allocations per call, want 0", allocations)
	}
	header.Add(HeaderIdempotencyKey, "7:2")
	if !idempotencyKeyRepeated(&header) {
		t.Error("two Idempotency-Key headers not read as repeated")
	}
}
