package api

import (
	"net/http"
	"testing"
)

// TestReview52cCredentialHeaderUnderscoreTwin: claim (review of hunt52c) — a request
// signed by the operator and carrying "Sequent_Client: 999" was served as the operator.
// CGI and WSGI gateways, PHP and many log pipelines map a header name to
// HTTP_SEQUENT_CLIENT, "-" and "_" alike, so there the request names client 999 (or
// "1,999", or whichever came last): the same first-or-last differential that
// TestHunt52cCredentialHeaderGivenTwice closes for a second Sequent-Client, by another
// spelling. Such a twin of any of the six authentication headers is now 401
// malformed_authentication.
func TestReview52cCredentialHeaderUnderscoreTwin(t *testing.T) {
	h := newHarness(t)
	const uri = "/v1/accounts/1"
	for _, twin := range []string{"Sequent_Client", "sequent_client", "SEQUENT_KEY",
		"Sequent_Timestamp", "Sequent_Nonce", "Sequent_Signature",
		"Sequent_Signature_Version", "Sequent-Signature_Version"} {
		request, err := http.NewRequest("GET", h.base+uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.signer(operatorClient).Sign(request.Header, "GET", uri, nil); err != nil {
			t.Fatal(err)
		}
		request.Header[twin] = []string{"999"}
		r := h.send(request)
		if r.code != 401 || r.errorCode(t) != "malformed_authentication" {
			t.Errorf("%s given besides the signed headers: HTTP %d %s, want 401 "+
				"malformed_authentication", twin, r.code, r.body)
		}
	}
	// Other underscore headers are not this server's business.
	request, err := http.NewRequest("GET", h.base+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.signer(operatorClient).Sign(request.Header, "GET", uri, nil); err != nil {
		t.Fatal(err)
	}
	request.Header["X_Trace_Id"] = []string{"1"}
	request.Header["Sequent_Clients"] = []string{"1"}
	if r := h.send(request); r.code != 404 {
		t.Errorf("unrelated underscore headers: HTTP %d %s, want 404", r.code, r.body)
	}
}
