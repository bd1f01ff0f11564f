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
// PROTOCOL.md section 15). The client sends five headers:
//
//	Sequent-Client:    its client id (decimal)
//	Sequent-Key:       the key id (decimal)
//	Sequent-Timestamp: milliseconds since the Unix epoch, within ClockWindow of the server
//	Sequent-Nonce:     16..64 characters of [A-Za-z0-9_-], never reused
//	Sequent-Signature: over the string to sign below: for a secret, hex HMAC-SHA256 with
//	                   the secret's bytes; for a public key, base64 of the ASN.1 DER
//	                   ECDSA P-256 signature of its SHA-256
//
// The string to sign is eight lines joined by "\n" (no newline after the last):
//
//	SEQUENT-API-1
//	<method>                           GET, POST
//	<request URI>                      path and query exactly as sent: /v1/transfers?x=1
//	<client id>
//	<key id>
//	<timestamp>
//	<nonce>
//	<hex SHA-256 of the body>          of the empty string for no body
//
// Binding the client and key ids and the body's hash means a signature is good for one
// request only, and the nonce (remembered until the server's clock passes timestamp + window) means it is good once.

// Header names.
const (
	HeaderClient    = "Sequent-Client"
	HeaderKey       = "Sequent-Key"
	HeaderTimestamp = "Sequent-Timestamp"
	HeaderNonce     = "Sequent-Nonce"
	HeaderSignature = "Sequent-Signature"
	// HeaderServerTime is on every answer: the server's clock in Unix milliseconds, so a
	// client refused for its timestamp can see how far off it is.
	HeaderServerTime = "Sequent-Server-Time"
	// signingVersion is the first line of the string to sign.
	signingVersion = "SEQUENT-API-1"
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
)

// credentials are the parsed authentication headers of a request.
type credentials struct {
	client    uint64
	key       uint32
	timestamp int64 // Unix ms.
	nonce     []byte
	signature []byte // As sent (hex or base64 text).
}

// parseCredentials reads the five headers, strictly: decimal numbers without sign or
// leading zeros beyond "0", a nonce of the allowed alphabet and length, a signature of
// printable base64 or hex characters.
func parseCredentials(header *fasthttp.RequestHeader) (credentials, error) {
	var c credentials
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

// StringToSign returns the string a request's signature covers.
func StringToSign(method, requestURI string, client uint64, key uint32, timestampMs int64,
	nonce string, body []byte) []byte {
	return appendStringToSign(nil, []byte(method), []byte(requestURI), client, key,
		timestampMs, []byte(nonce), body)
}

func appendStringToSign(b []byte, method, uri []byte, client uint64, key uint32,
	timestamp int64, nonce []byte, body []byte) []byte {
	digest := sha256.Sum256(body)
	b = append(b, signingVersion...)
	b = append(append(b, '\n'), method...)
	b = append(append(b, '\n'), uri...)
	b = strconv.AppendUint(append(b, '\n'), client, 10)
	b = strconv.AppendUint(append(b, '\n'), uint64(key), 10)
	b = strconv.AppendInt(append(b, '\n'), timestamp, 10)
	b = append(append(b, '\n'), nonce...)
	b = append(b, '\n')
	return hex.AppendEncode(b, digest[:])
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
