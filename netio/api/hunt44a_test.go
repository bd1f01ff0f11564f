package api

import (
	"strings"
	"testing"
)

// TestHunt44aIdempotencyKeyIsBoundBySignature: the Idempotency-Key decides which
// exactly-once session and number a write is applied under, but it is not part of the
// string to sign, so whoever relays a signed request (a TLS-terminating gateway, anyone
// on a plain-HTTP path) can change it without breaking the signature. Changed to a
// number far ahead in the client's session, it makes the client's own next request, never
// applied, answer 409 request_too_old ("applied too long ago: look the ids up"). The same
// signed headers must not verify under another Idempotency-Key.
func TestHunt44aIdempotencyKeyIsBoundBySignature(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	// Transfer 10 signed under 7:1, what the client sends; a relay forwards 7:100000.
	request := signedTransfer(h, h.signer(operatorClient), "7:1")
	request.Header.Set(HeaderIdempotencyKey, "7:100000")
	altered := h.send(request)
	if altered.code == 401 {
		if code := altered.errorCode(t); code != "bad_signature" {
			t.Fatalf("refused 401 %s, want bad_signature (the signature binds the key)", code)
		}
		return // The signature binds the key.
	}
	next := `{"id":"11","debit_account_id":"1","credit_account_id":"2","amount":"5","ledger":1,"code":1}`
	answer := h.operator("POST", "/v1/transfers", next, HeaderIdempotencyKey, "7:2")
	t.Fatalf("the signed request was accepted with another Idempotency-Key (HTTP %d %s); "+
		"the client's next request 7:2, a new transfer, then answered HTTP %d %s",
		altered.code, strings.TrimSpace(string(altered.body)), answer.code,
		strings.TrimSpace(string(answer.body)))
}
