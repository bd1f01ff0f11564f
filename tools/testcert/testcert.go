// Package testcert issues throwaway X.509 certificates for tests: a CA and certificates
// for 127.0.0.1 that it signs, in memory or as PEM files. It exists so that every TLS test
// (HTTP, admin client, replication link) builds its certificates the same way. Keys are
// ECDSA P-256 and certificates are valid from an hour ago to an hour from now.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Authority is a test CA.
type Authority struct {
	certificate *x509.Certificate
	key         *ecdsa.PrivateKey
	pool        *x509.CertPool
	serial      atomic.Int64
}

// NewAuthority creates a CA named name.
func NewAuthority(t testing.TB, name string) *Authority {
	t.Helper()
	key := newKey(t)
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(certificate)
	authority := &Authority{certificate: certificate, key: key, pool: pool}
	authority.serial.Store(1)
	return authority
}

// Pool is a certificate pool that trusts only this CA.
func (a *Authority) Pool() *x509.CertPool { return a.pool }

// Issue signs a certificate for 127.0.0.1, usable by a server and by a client.
func (a *Authority) Issue(t testing.TB) tls.Certificate {
	t.Helper()
	key := newKey(t)
	template := &x509.Certificate{SerialNumber: big.NewInt(a.serial.Add(1)),
		Subject:   pkix.Name{CommonName: "sequent test node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, template, a.certificate, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Files is a certificate, its key and its CA as PEM files.
type Files struct {
	Certificate, Key, Authority string
}

// IssueFiles issues a certificate and writes it, its key and the CA certificate to a new
// directory of the test.
func (a *Authority) IssueFiles(t testing.TB) Files {
	t.Helper()
	certificate := a.Issue(t)
	keyDER, err := x509.MarshalECPrivateKey(certificate.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	directory := t.TempDir()
	files := Files{Certificate: filepath.Join(directory, "cert.pem"),
		Key: filepath.Join(directory, "key.pem"), Authority: filepath.Join(directory, "ca.pem")}
	write := func(path, kind string, der []byte) {
		t.Helper()
		data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(files.Certificate, "CERTIFICATE", certificate.Certificate[0])
	write(files.Key, "EC PRIVATE KEY", keyDER)
	write(files.Authority, "CERTIFICATE", a.certificate.Raw)
	return files
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
