package api

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
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
}

// Sign sets the five authentication headers of a request with this method, request URI
// (path and query, exactly as sent) and body, with a fresh random nonce.
func (s *Signer) Sign(header http.Header, method, requestURI string, body []byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var random [18]byte
	if _, err := rand.Read(random[:]); err != nil {
		return err
	}
	nonce := base64.RawURLEncoding.EncodeToString(random[:]) // 24 characters.
	timestamp := now().UnixMilli()
	message := StringToSign(method, requestURI, s.Client, s.Key, timestamp, nonce, body)
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
	return nil
}
