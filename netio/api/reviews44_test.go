package api

import (
	"testing"
)

// TestReviews44SignerSignsIdempotencyKeyAsServerReadsIt: the README (and openapi.json)
// say version 2 signs the Idempotency-Key "without the spaces or tabs around it", which
// is what the server reads (fasthttp trims them) and what net/http sends (it trims them
// when it writes the header). api.Signer, version 2 by default, signed the value as set,
// spaces included, so a Go client whose key had a space or tab around it (accepted under
// version 1) was refused 401 bad_signature: the reference signer did not build the
// documented string. With an HMAC and an ECDSA key, the request must apply, under the
// key the server read (a retry with the bare key is answered from the session).
func TestReviews44SignerSignsIdempotencyKeyAsServerReadsIt(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for i, client := range []uint64{operatorClient, ecdsaClient} {
		key := []string{"44:1", "44:2"}[i]
		transfer := `{"id":"` + []string{"10", "11"}[i] + `","debit_account_id":"1",` +
			`"credit_account_id":"2","amount":"100","ledger":1,"code":1}`
		padded := h.do(h.signer(client), "POST", "/v1/transfers", transfer,
			HeaderIdempotencyKey, " \t"+key+"\t ")
		if padded.code != 201 {
			t.Fatalf("client %d: Idempotency-Key with spaces and tabs around it: HTTP %d %s, "+
				"want 201", client, padded.code, padded.body)
		}
		retry := h.do(h.signer(client), "POST", "/v1/transfers", transfer,
			HeaderIdempotencyKey, key)
		h.expect(retry, 201, "")
		if retry.header.Get(HeaderIdempotencyReplayed) != "true" {
			t.Fatalf("client %d: the retry under %s was not answered from the session: %v",
				client, key, retry.header)
		}
	}
}

// TestReviews44ReadmeShellSignerTrimsTabs: the README's sequent_api function is the
// reference an integrator copies, and the README next to it says the Idempotency-Key is
// signed without the spaces or tabs around it. curl sends a header argument as given
// (a tab after the colon included) and the server trims it, but the function removed
// spaces only (tr -d ' '), so a key written with a tab after the colon was signed with
// the tab and refused 401 bad_signature.
func TestReviews44ReadmeShellSignerTrimsTabs(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	output, err := runReadmeShellSigner(t, h, `
sequent_api POST /v1/transfers "$T" -H $'Idempotency-Key:\t7:1\t' -o /dev/null -w '%{http_code}\n'
sequent_api POST /v1/transfers "$T" -H 'Idempotency-Key: 7:1' -i | tr -d '\r' | grep -i '^idempotency-replayed'
`)
	if want := "201\nIdempotency-Replayed: true\n"; err != nil || string(output) != want {
		t.Fatalf("the README's function, key with tabs around it: %v\n%s\nwant\n%s", err,
			output, want)
	}
}
