package api

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"sequent/netio"
)

// signatureTransfer is the write these tests sign, relay and alter.
const signatureTransfer = `{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"100","ledger":1,"code":1}`

// signedTransfer returns a POST /v1/transfers of signatureTransfer signed by signer with
// the given Idempotency-Key ("" for none), ready for a relay to alter before sending.
func signedTransfer(h *harness, signer *Signer, idempotencyKey string) *http.Request {
	h.t.Helper()
	request, err := http.NewRequest("POST", h.base+"/v1/transfers",
		strings.NewReader(signatureTransfer))
	if err != nil {
		h.t.Fatal(err)
	}
	request.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		request.Header.Set(HeaderIdempotencyKey, idempotencyKey)
	}
	if err := signer.Sign(request.Header, "POST", "/v1/transfers",
		[]byte(signatureTransfer)); err != nil {
		h.t.Fatal(err)
	}
	return request
}

// expectNotApplied checks that transfer 10 was never created.
func expectNotApplied(h *harness) {
	h.t.Helper()
	h.expect(h.operator("GET", "/v1/transfers/10", ""), 404, "transfer_not_found")
}

// TestStringToSignVersion2Exact pins the version-2 string to sign byte for byte as the
// README and openapi.json describe it (an independent client is written from them):
// version 1's eight lines under SEQUENT-API-2, then the Idempotency-Key's value, empty
// when the request has none (the string then ends with a newline).
func TestStringToSignVersion2Exact(t *testing.T) {
	body := []byte(`{"id":"1"}`)
	digest := "5811967f540d300d249ab30ae681359a7815fdb5d3dc71a94be1d491006a6b27" // sha256sum.
	version1 := "SEQUENT-API-1\nPOST\n/v1/transfers?x=1\n7\n2\n1700000000000\nnonce-of-sixteen-chars\n" + digest
	version2 := "SEQUENT-API-2\nPOST\n/v1/transfers?x=1\n7\n2\n1700000000000\nnonce-of-sixteen-chars\n" + digest
	if got := string(StringToSign("POST", "/v1/transfers?x=1", 7, 2, 1700000000000,
		"nonce-of-sixteen-chars", body)); got != version1 {
		t.Errorf("version 1:\n%q\nwant\n%q", got, version1)
	}
	if got := string(StringToSignVersion2("POST", "/v1/transfers?x=1", 7, 2, 1700000000000,
		"nonce-of-sixteen-chars", body, "7:1")); got != version2+"\n7:1" {
		t.Errorf("version 2 with a key:\n%q\nwant\n%q", got, version2+"\n7:1")
	}
	if got := string(StringToSignVersion2("POST", "/v1/transfers?x=1", 7, 2, 1700000000000,
		"nonce-of-sixteen-chars", body, "")); got != version2+"\n" {
		t.Errorf("version 2 without a key:\n%q\nwant\n%q", got, version2+"\n")
	}
}

// TestSignatureVersion1StillVerifies: clients written before version 2 (no
// Sequent-Signature-Version header, or "1") keep working, Idempotency-Key included, for a
// key without signature_version_min.
func TestSignatureVersion1StillVerifies(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	signer := h.signer(operatorClient)
	signer.Version = SignatureVersion1
	request := signedTransfer(h, signer, "7:1")
	if version := request.Header.Get(HeaderSignatureVersion); version != "" {
		t.Fatalf("a version-1 signer sent %s: %q", HeaderSignatureVersion, version)
	}
	h.expect(h.send(request), 201, "")
	// The retry, its version said explicitly: the original reply.
	request = signedTransfer(h, signer, "7:1")
	request.Header.Set(HeaderSignatureVersion, "1")
	retry := h.send(request)
	h.expect(retry, 201, "")
	if retry.header.Get(HeaderIdempotencyReplayed) != "true" {
		t.Fatalf("the version-1 retry was not answered from the session: %v", retry.header)
	}
}

// TestSignatureVersion2BindsIdempotencyKey: a version-2 request whose Idempotency-Key a
// relay changes, removes or adds is 401 bad_signature, with an HMAC and an ECDSA key,
// and nothing is applied; unaltered, it is applied.
func TestSignatureVersion2BindsIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, client := range []uint64{operatorClient, ecdsaClient} {
		signer := h.signer(client)
		changed := signedTransfer(h, signer, "7:1")
		changed.Header.Set(HeaderIdempotencyKey, "7:100000")
		h.expect(h.send(changed), 401, "bad_signature")
		removed := signedTransfer(h, signer, "7:1")
		removed.Header.Del(HeaderIdempotencyKey)
		h.expect(h.send(removed), 401, "bad_signature")
		added := signedTransfer(h, signer, "")
		added.Header.Set(HeaderIdempotencyKey, "7:100000")
		h.expect(h.send(added), 401, "bad_signature")
		// A second Idempotency-Key placed before the signed one is the one the server
		// would apply: refused as well.
		prepended := signedTransfer(h, signer, "7:1")
		prepended.Header[HeaderIdempotencyKey] = []string{"7:100000", "7:1"}
		h.expect(h.send(prepended), 401, "bad_signature")
	}
	expectNotApplied(h)
	h.expect(h.send(signedTransfer(h, h.signer(operatorClient), "7:1")), 201, "")
}

// TestSignatureVersionHeaderStrippedIsRefused: no downgrade. A relay that removes
// Sequent-Signature-Version from a version-2 request (or says 1) makes the server check
// the version-1 string, which the signature does not match: 401 bad_signature, with
// the Idempotency-Key left as signed and with it changed, so a relay cannot fall back to
// version 1 to change the key unnoticed.
func TestSignatureVersionHeaderStrippedIsRefused(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, client := range []uint64{operatorClient, ecdsaClient} {
		signer := h.signer(client)
		stripped := signedTransfer(h, signer, "7:1")
		if stripped.Header.Get(HeaderSignatureVersion) != "2" {
			t.Fatalf("the default signer did not sign version 2: %v", stripped.Header)
		}
		stripped.Header.Del(HeaderSignatureVersion)
		h.expect(h.send(stripped), 401, "bad_signature")
		strippedAndChanged := signedTransfer(h, signer, "7:1")
		strippedAndChanged.Header.Del(HeaderSignatureVersion)
		strippedAndChanged.Header.Set(HeaderIdempotencyKey, "7:100000")
		h.expect(h.send(strippedAndChanged), 401, "bad_signature")
		saysOne := signedTransfer(h, signer, "")
		saysOne.Header.Set(HeaderSignatureVersion, "1")
		h.expect(h.send(saysOne), 401, "bad_signature")
	}
	expectNotApplied(h)
}

// TestSignatureVersionMalformed: a version the server does not know (or spelled other
// than "1" or "2") is 401 malformed_authentication, not checked as some other version.
func TestSignatureVersionMalformed(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	for _, version := range []string{"3", "0", "02", "2.0", "v2", "22"} {
		request := signedTransfer(h, h.signer(operatorClient), "7:1")
		request.Header.Set(HeaderSignatureVersion, version)
		r := h.send(request)
		if r.code != 401 || r.errorCode(t) != "malformed_authentication" {
			t.Errorf("version %q: HTTP %d %s, want 401 malformed_authentication", version,
				r.code, r.body)
		}
	}
	expectNotApplied(h)
}

// TestSignatureVersionMin: a key whose keys file entry says signature_version_min 2
// refuses a version-1 request, however well signed, with 401 signature_version_too_old
// (from the first request after the keys are replaced, as a reload does), and accepts
// version 2; the other clients' keys still take version 1.
func TestSignatureVersionMin(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	secret := hex.EncodeToString(testSecret)
	all := []string{"read", "transfer", "trade", "admin"}
	if err := h.server.config.Keys.Replace(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{
			{ID: operatorClient, Name: "operator", Permissions: all,
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret,
					SignatureVersionMin: SignatureVersion2}},
				Grants: []netio.KeysFileGrant{{Scopes: []string{"operator"}}}},
			{ID: readerClient, Name: "reader", Permissions: []string{"read"},
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}},
		}}); err != nil {
		t.Fatal(err)
	}
	old := h.signer(operatorClient)
	old.Version = SignatureVersion1
	h.expect(h.send(signedTransfer(h, old, "7:1")), 401, "signature_version_too_old")
	h.expect(h.send(signedTransfer(h, old, "")), 401, "signature_version_too_old")
	saysOne := signedTransfer(h, old, "")
	saysOne.Header.Set(HeaderSignatureVersion, "1")
	h.expect(h.send(saysOne), 401, "signature_version_too_old")
	expectNotApplied(h)
	// Version 1 from a key without the setting still verifies: authenticated, the reader
	// (no grant) is told the account is not one it may read, rather than 401.
	reader := h.signer(readerClient)
	reader.Version = SignatureVersion1
	h.expect(h.do(reader, "GET", "/v1/accounts/1", ""), 404, "account_not_found")
	h.expect(h.send(signedTransfer(h, h.signer(operatorClient), "7:1")), 201, "")
}

// TestKeysFileSignatureVersionMin: signature_version_min is optional (absent: 1) and
// limited to the versions the server knows.
func TestKeysFileSignatureVersionMin(t *testing.T) {
	file := func(versionMin string) string {
		return `{"version":1,"clients":[{"id":1,"name":"a","permissions":["read"],` +
			`"keys":[{"id":1,"secret":"` + hex.EncodeToString(testSecret) + `"` +
			versionMin + `}]}]}`
	}
	for versionMin, want := range map[string]int{"": 1, `,"signature_version_min":1`: 1,
		`,"signature_version_min":2`: 2} {
		parsed, err := netio.ParseKeysFile([]byte(file(versionMin)))
		if err != nil {
			t.Fatalf("%q: %v", versionMin, err)
		}
		keys, err := netio.NewKeyring(parsed)
		if err != nil {
			t.Fatal(err)
		}
		client, _ := keys.Client(1)
		if got, ok := client.SignatureVersionMin(1); !ok || got != want {
			t.Errorf("%q: signature version min %d (key found %v), want %d", versionMin, got,
				ok, want)
		}
	}
	for _, versionMin := range []string{`,"signature_version_min":3`,
		`,"signature_version_min":-1`, `,"signature_version_min":"2"`} {
		if _, err := netio.ParseKeysFile([]byte(file(versionMin))); err == nil {
			t.Errorf("%q accepted", versionMin)
		}
	}
}
