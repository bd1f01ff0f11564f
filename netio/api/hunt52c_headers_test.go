package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHunt52cCredentialHeaderGivenTwice: a signed request carrying one of its
// authentication headers a second time (another value, or the same name in lower case)
// is refused 401 malformed_authentication. The server read the first, so a request signed
// by the operator with a second Sequent-Client: 999 was served as the operator where a
// gateway or log reading the last header saw client 999.
func TestHunt52cCredentialHeaderGivenTwice(t *testing.T) {
	h := newHarness(t)
	const uri = "/v1/accounts/1"
	for _, extra := range [][2]string{
		{HeaderClient, "999"},
		{strings.ToLower(HeaderClient), "999"},
		{HeaderKey, "2"},
		{HeaderTimestamp, "1"},
		{HeaderNonce, "another-nonce-0123456789"},
		{HeaderSignature, "00"},
		{HeaderSignatureVersion, "1"},
	} {
		request, err := http.NewRequest("GET", h.base+uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.signer(operatorClient).Sign(request.Header, "GET", uri, nil); err != nil {
			t.Fatal(err)
		}
		request.Header[http.CanonicalHeaderKey(extra[0])] = append(
			request.Header[http.CanonicalHeaderKey(extra[0])], extra[1])
		if extra[0] != http.CanonicalHeaderKey(extra[0]) {
			// net/http canonicalizes names; send the lower-case one as its own field.
			request.Header[http.CanonicalHeaderKey(extra[0])] = request.Header[http.CanonicalHeaderKey(extra[0])][:1]
			request.Header[extra[0]] = []string{extra[1]}
		}
		r := h.send(request)
		if r.code != 401 || r.errorCode(t) != "malformed_authentication" {
			t.Errorf("%s given twice: HTTP %d %s, want 401 malformed_authentication",
				extra[0], r.code, r.body)
		}
	}
	// Once each, the same request is served (404: no such account yet).
	h.expect(h.operator("GET", uri, ""), 404, "account_not_found")
}

// TestHunt52cCredentialHeadersCountedWithoutAllocating: the once-each check of the
// authentication headers costs no allocation per request (PeekAll reuses the header's
// buffer once it has grown).
func TestHunt52cCredentialHeadersCountedWithoutAllocating(t *testing.T) {
	var header fasthttp.RequestHeader
	header.Set(HeaderClient, "1")
	header.Set(HeaderKey, "1")
	header.Set(HeaderTimestamp, "1700000000000")
	header.Set(HeaderNonce, "0123456789abcdef0123")
	header.Set(HeaderSignature, "00ff")
	header.Set(HeaderSignatureVersion, "2")
	if _, err := parseCredentials(&header); err != nil {
		t.Fatal(err)
	}
	if allocations := testing.AllocsPerRun(100, func() {
		_, _ = parseCredentials(&header)
	}); allocations != 0 {
		t.Errorf("parseCredentials: %v allocations per call, want 0", allocations)
	}
}
