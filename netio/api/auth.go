package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/netio"
)

// Authentication of every request (README "HTTP API"; docs in openapi.json and
// PROTOCOL.md section 15). The client sends five headers, and a sixth for version 2:
//
//	Sequent-Client:    its client id (decimal)
//	Sequent-Key:       the key id (decimal)
//	Sequent-Timestamp: milliseconds since the Unix epoch, within ClockWindow of the server
//	Sequent-Nonce:     16..64 characters of [A-Za-z0-9_-], never reused
//	Sequent-Signature: over the string to sign below: for a secret, hex HMAC-SHA256 with
//	                   the secret's bytes; for a public key, base64 of the ASN.1 DER
//	                   ECDSA P-256 signature of its SHA-256
//	Sequent-Signature-Version: "2" for version 2; absent (or "1"): version 1; any other
//	                   value is malformed
//
// The string to sign is lines joined by "\n" (no newline after the last): for version
// 1 eight lines, for version 2 nine:
//
//	SEQUENT-API-1 or SEQUENT-API-2
//	<method>                           GET, POST
//	<request URI>                      path and query exactly as sent: /v1/transfers?x=1
//	<client id>
//	<key id>
//	<timestamp>
//	<nonce>
//	<hex SHA-256 of the body>          of the empty string for no body
//	<Idempotency-Key>                  version 2 only: its value, empty when absent
//
// Binding the client and key ids and the body's hash means a signature is good for one
// request only, and the nonce (remembered until the server's clock passes timestamp + window) means it is good once.
// Version 2 also binds the one header that changes what a request does, the
// Idempotency-Key (the exactly-once session and number it is applied under): under
// version 1 whoever relays a request may change or remove it (TestSignatureVersion2BindsIdempotencyKey).
// The other headers the server reads do not change a request's meaning: Content-Length
// only frames the body, which is hashed, and chunked bodies are refused. The version is
// bound by the first line, so removing Sequent-Signature-Version from a version-2
// request makes the server check a version-1 string, which the signature does not match.
// A key whose keys file entry says signature_version_min 2 refuses version 1
// (signature_version_too_old).

// Header names.
const (
	HeaderClient    = "Sequent-Client"
	HeaderKey       = "Sequent-Key"
	HeaderTimestamp = "Sequent-Timestamp"
	HeaderNonce     = "Sequent-Nonce"
	HeaderSignature = "Sequent-Signature"
	// HeaderSignatureVersion says which string to sign the signature covers: "2", or
	// absent (or "1") for version 1.
	HeaderSignatureVersion = "Sequent-Signature-Version"
	// HeaderServerTime is on every answer: the server's clock in Unix milliseconds, so a
	// client refused for its timestamp can see how far off it is.
	HeaderServerTime = "Sequent-Server-Time"
)

// credentialHeaders are the headers parseCredentials reads, each refused when given twice.
var credentialHeaders = [...]string{HeaderClient, HeaderKey, HeaderTimestamp, HeaderNonce,
	HeaderSignature, HeaderSignatureVersion}

// credentialHeaderTwin reports whether name, containing an "_", is one of the
// credentialHeaders with "_" for some "-", in any case.
func credentialHeaderTwin(name []byte) bool {
	if bytes.IndexByte(name, '_') < 0 {
		return false
	}
	for _, header := range credentialHeaders {
		if underscoreTwin(name, header) {
			return true
		}
	}
	return false
}

// underscoreTwin reports whether name is header spelled with "_" for some "-", in any
// case: the same header to a CGI or WSGI gateway, PHP or a log pipeline, which read both
// as HTTP_ and the name upper-cased with "_" for "-". A name without "_" is no twin (the
// same name in another case is the header itself, which PeekAll counts).
func underscoreTwin(name []byte, header string) bool {
	if len(name) != len(header) || bytes.IndexByte(name, '_') < 0 {
		return false
	}
	for i := range len(name) {
		c, want := name[i], header[i]
		switch {
		case c == '_':
			c = '-'
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if want >= 'A' && want <= 'Z' {
			want += 'a' - 'A'
		}
		if c != want {
			return false
		}
	}
	return true
}

// idempotencyKeyRepeated reports whether a request carries Idempotency-Key more than
// once (in any case), or besides it an underscore twin (Idempotency_Key): the server
// reads and signs the first, a gateway in front of it deduplicating retries may read the
// last (or, CGI-style, both as HTTP_IDEMPOTENCY_KEY), so a retry it judged new under the
// second key could be applied again under the first
// (TestAPI53IdempotencyKeyGivenTwiceIsRefused). No allocation: PeekAll reuses the
// header's buffer.
func idempotencyKeyRepeated(header *fasthttp.RequestHeader) bool {
	if len(header.PeekAll(HeaderIdempotencyKey)) > 1 {
		return true
	}
	for name := range header.All() {
		if underscoreTwin(name, HeaderIdempotencyKey) {
			return true
		}
	}
	return false
}

// Signature versions: the first line of each version's string to sign.
const (
	SignatureVersion1 = 1
	SignatureVersion2 = 2
	// SignatureVersionLatest is what Signer signs by default.
	SignatureVersionLatest = netio.SignatureVersionMax
	signingVersion1        = "SEQUENT-API-1"
	signingVersion2        = "SEQUENT-API-2"
	// stringToSignBytesHint is the capacity the server builds a string to sign in, so
	// that a usual request needs one allocation: about 160 bytes of fixed lines (a
	// 24-character nonce), the request URI and, in version 2, the Idempotency-Key.
	stringToSignBytesHint = 384
)

// Authentication failures, each with its own documented error code.
var (
	errAuthMissing    = errors.New("missing_authentication")
	errAuthMalformed  = errors.New("malformed_authentication")
	errUnknownKey     = errors.New("unknown_key")
	errBadSignature   = errors.New("bad_signature")
	errClockWindow    = errors.New("timestamp_out_of_window")
	errNonceReplayed  = errors.New("nonce_replayed")
	errNonceCacheFull = errors.New("nonce_cache_full")
	// errSignatureVersionTooOld: a version-1 signature with a key whose keys file entry
	// asks for signature_version_min 2.
	errSignatureVersionTooOld = errors.New("signature_version_too_old")
)

// credentials are the parsed authentication headers of a request.
type credentials struct {
	client    uint64
	key       uint32
	timestamp int64 // Unix ms.
	nonce     []byte
	signature []byte // As sent (hex or base64 text).
	version   int    // SignatureVersion1 or SignatureVersion2.
}

// parseCredentials reads the five headers and the signature version, strictly: decimal
// numbers without sign or leading zeros beyond "0", a nonce of the allowed alphabet and
// length, a signature of printable base64 or hex characters, a version "1" or "2" or
// none (1).
//
// Each of the six headers is given at most once: the server reads the first, a proxy, a
// gateway or a log in front of it may read the last, so a request signed by client 1 and
// carrying a second Sequent-Client: 2 was applied as client 1 where they saw client 2
// (TestHunt52cCredentialHeaderGivenTwice). (PeekAll reuses the header's buffer: no
// allocation.)
//
// Nor is any of them also given spelled with "_" for "-" (Sequent_Client): a CGI or WSGI
// gateway, PHP or a log pipeline reads both as HTTP_SEQUENT_CLIENT, so that spelling is
// the same header given twice to them (TestReview52cCredentialHeaderUnderscoreTwin).
func parseCredentials(header *fasthttp.RequestHeader) (credentials, error) {
	var c credentials
	for _, name := range credentialHeaders {
		if len(header.PeekAll(name)) > 1 {
			return c, errAuthMalformed
		}
	}
	for name := range header.All() {
		if credentialHeaderTwin(name) {
			return c, errAuthMalformed
		}
	}
	client, key := header.Peek(HeaderClient), header.Peek(HeaderKey)
	timestamp, nonce := header.Peek(HeaderTimestamp), header.Peek(HeaderNonce)
	signature := header.Peek(HeaderSignature)
	if len(client) == 0 && len(key) == 0 && len(timestamp) == 0 && len(nonce) == 0 &&
		len(signature) == 0 {
		return c, errAuthMissing
	}
	var ok bool
	if c.client, ok = parseDecimal(client, 64); !ok || c.client == 0 {
		return c, errAuthMalformed
	}
	key64, ok := parseDecimal(key, 32)
	if !ok || key64 == 0 {
		return c, errAuthMalformed
	}
	c.key = uint32(key64)
	milliseconds, ok := parseDecimal(timestamp, 63)
	if !ok {
		return c, errAuthMalformed
	}
	c.timestamp = int64(milliseconds)
	if len(nonce) < nonceBytesMin || len(nonce) > nonceBytesMax || !nonceAlphabet(nonce) {
		return c, errAuthMalformed
	}
	c.nonce = nonce
	if len(signature) == 0 || len(signature) > 256 || !signatureAlphabet(signature) {
		return c, errAuthMalformed
	}
	c.signature = signature
	switch version := header.Peek(HeaderSignatureVersion); string(version) {
	case "", "1":
		c.version = SignatureVersion1
	case "2":
		c.version = SignatureVersion2
	default:
		return c, errAuthMalformed
	}
	return c, nil
}

// parseDecimal parses an unsigned decimal of at most bits bits: digits only, no leading
// zero (except "0" itself).
func parseDecimal(text []byte, bits int) (uint64, bool) {
	if len(text) == 0 || len(text) > 20 || (len(text) > 1 && text[0] == '0') {
		return 0, false
	}
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	value, err := strconv.ParseUint(string(text), 10, bits)
	return value, err == nil
}

func nonceAlphabet(text []byte) bool {
	for _, c := range text {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

func signatureAlphabet(text []byte) bool {
	for _, c := range text {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '+', c == '/', c == '=', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// StringToSign returns the string a version-1 signature covers (it leaves the
// Idempotency-Key out: StringToSignVersion2 binds it).
func StringToSign(method, requestURI string, client uint64, key uint32, timestampMs int64,
	nonce string, body []byte) []byte {
	return appendStringToSign(nil, SignatureVersion1, []byte(method), []byte(requestURI),
		client, key, timestampMs, []byte(nonce), body, nil)
}

// StringToSignVersion2 returns the string a version-2 signature covers: version 1's
// lines under the first line SEQUENT-API-2, then the Idempotency-Key's value ("" when
// the request has none).
func StringToSignVersion2(method, requestURI string, client uint64, key uint32,
	timestampMs int64, nonce string, body []byte, idempotencyKey string) []byte {
	return appendStringToSign(nil, SignatureVersion2, []byte(method), []byte(requestURI),
		client, key, timestampMs, []byte(nonce), body, []byte(idempotencyKey))
}

// appendStringToSign appends the string to sign of version (SignatureVersion1 or
// SignatureVersion2; idempotencyKey is used by version 2 only).
func appendStringToSign(b []byte, version int, method, uri []byte, client uint64, key uint32,
	timestamp int64, nonce []byte, body []byte, idempotencyKey []byte) []byte {
	digest := sha256.Sum256(body)
	if version == SignatureVersion2 {
		b = append(b, signingVersion2...)
	} else {
		b = append(b, signingVersion1...)
	}
	b = append(append(b, '\n'), method...)
	b = append(append(b, '\n'), uri...)
	b = strconv.AppendUint(append(b, '\n'), client, 10)
	b = strconv.AppendUint(append(b, '\n'), uint64(key), 10)
	b = strconv.AppendInt(append(b, '\n'), timestamp, 10)
	b = append(append(b, '\n'), nonce...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, digest[:])
	if version == SignatureVersion2 {
		b = append(append(b, '\n'), idempotencyKey...)
	}
	return b
}

// SignHMAC returns the Sequent-Signature of a request signed with a secret.
func SignHMAC(secret []byte, stringToSign []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(stringToSign)
	return hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's signature with the client's key of that id: an HMAC secret
// or a P-256 public key. It returns errUnknownKey when the client has no such key.
func verify(client *netio.Client, c *credentials, stringToSign []byte) error {
	if secret, ok := client.Secret(c.key); ok {
		mac := hmac.New(sha256.New, secret)
		mac.Write(stringToSign)
		var expected [2 * sha256.Size]byte
		hex.Encode(expected[:], mac.Sum(nil))
		if !hmac.Equal(expected[:], bytes.ToLower(c.signature)) {
			return errBadSignature
		}
		return nil
	}
	public, ok := client.PublicKey(c.key)
	if !ok {
		return errUnknownKey
	}
	signature, err := base64.StdEncoding.DecodeString(string(c.signature))
	if err != nil {
		return errBadSignature
	}
	digest := sha256.Sum256(stringToSign)
	if !ecdsa.VerifyASN1(public, digest[:], signature) {
		return errBadSignature
	}
	return nil
}

// inWindow reports whether a request timestamp (Unix ms) is within window of now.
func inWindow(timestampMs int64, now time.Time, window time.Duration) bool {
	difference := now.UnixMilli() - timestampMs
	if difference < 0 {
		difference = -difference
	}
	return difference <= window.Milliseconds()
}
