package api

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signer signs requests for the API as one client with one key: an HMAC secret, or an
// ECDSA P-256 private key whose public key is in the keys file. The tests, the load
// generator and Go integrators use it; the README shows the same in shell and openssl.
type Signer struct {
	Client  uint64
	Key     uint32
	Secret  []byte            // For an HMAC key.
	Private *ecdsa.PrivateKey // For an ECDSA key (Secret nil).
	Now     func() time.Time  // Nil: time.Now.
	// Version is the signature version: 0 (SignatureVersionLatest) or SignatureVersion2
	// signs the Idempotency-Key too; SignatureVersion1 is the older string to sign,
	// which leaves it unprotected (for clients of servers that predate version 2).
	Version int
}

// Sign sets the authentication headers of a request with this method, request URI
// (path and query, exactly as sent) and body, with a fresh random nonce. Under version
// 2 it signs the header's Idempotency-Key as it is when Sign is called (its first
// value, the one the server reads) without the spaces or tabs around it, as the README
// says: net/http trims them when it sends the header and the server when it reads it.
// Set that header first, and do not change it after.
func (s *Signer) Sign(header http.Header, method, requestURI string, body []byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	version := s.Version
	if version == 0 {
		version = SignatureVersionLatest
	}
	if version != SignatureVersion1 && version != SignatureVersion2 {
		return errors.New("api: Signer.Version " + strconv.Itoa(version) + ", want 1 or 2")
	}
	var random [18]byte
	if _, err := rand.Read(random[:]); err != nil {
		return err
	}
	nonce := base64.RawURLEncoding.EncodeToString(random[:]) // 24 characters.
	timestamp := now().UnixMilli()
	idempotencyKey := strings.Trim(header.Get(HeaderIdempotencyKey), " \t")
	message := appendStringToSign(nil, version, []byte(method), []byte(requestURI), s.Client,
		s.Key, timestamp, []byte(nonce), body, []byte(idempotencyKey))
	signature := ""
	if s.Private != nil {
		digest := sha256.Sum256(message)
		der, err := ecdsa.SignASN1(rand.Reader, s.Private, digest[:])
		if err != nil {
			return err
		}
		signature = base64.StdEncoding.EncodeToString(der)
	} else {
		signature = SignHMAC(s.Secret, message)
	}
	header.Set(HeaderClient, strconv.FormatUint(s.Client, 10))
	header.Set(HeaderKey, strconv.FormatUint(uint64(s.Key), 10))
	header.Set(HeaderTimestamp, strconv.FormatInt(timestamp, 10))
	header.Set(HeaderNonce, nonce)
	header.Set(HeaderSignature, signature)
	if version == SignatureVersion1 {
		header.Del(HeaderSignatureVersion) // Absent: what clients before version 2 send.
	} else {
		header.Set(HeaderSignatureVersion, strconv.Itoa(version))
	}
	return nil
}
