package api

import "testing"

// TestReview2Netio53RelayCopyBeforeOrAfterIsRefused (review2-netio53, checked fine): a
// relay that adds a second Idempotency-Key to a signed write is refused whichever copy
// comes first: its copy before the client's changes the key the signature covers (401),
// after it the signature holds and the repeated key is refused (400
// bad_idempotency_key). Neither applies the write, and the client's own request, sent
// once, still is.
func TestReview2Netio53RelayCopyBeforeOrAfterIsRefused(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	signer := h.signer(operatorClient)

	before := signedTransfer(h, signer, "7:1")
	before.Header[HeaderIdempotencyKey] = []string{"7:2", "7:1"}
	if r := h.send(before); r.code != 401 {
		t.Errorf("relay's copy first: HTTP %d %s, want 401", r.code, r.body)
	}
	after := signedTransfer(h, signer, "7:1")
	after.Header[HeaderIdempotencyKey] = []string{"7:1", "7:2"}
	if r := h.send(after); r.code != 400 || r.errorCode(t) != "bad_idempotency_key" {
		t.Errorf("relay's copy last: HTTP %d %s, want 400 bad_idempotency_key",
			r.code, r.body)
	}
	expectNotApplied(h)
	h.expect(h.send(signedTransfer(h, signer, "7:1")), 201, "")
}
