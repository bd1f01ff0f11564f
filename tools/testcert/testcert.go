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
	return a.Sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "sequent test node"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
}

// Sign signs a certificate from template (its subject, names, usages and extensions) for
// a new key; it sets the template's serial number and validity.
func (a *Authority) Sign(t testing.TB, template *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newKey(t)
	template.SerialNumber = big.NewInt(a.serial.Add(1))
	template.NotBefore, template.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
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
	directory := t.TempDir()
	files := Files{Certificate: filepath.Join(directory, "cert.pem"),
		Key: filepath.Join(directory, "key.pem"), Authority: filepath.Join(directory, "ca.pem")}
	WritePair(t, a.Issue(t), files.Certificate, files.Key)
	writePEM(t, files.Authority, "CERTIFICATE", a.certificate.Raw)
	return files
}

// WritePair writes a certificate Issue or Sign returned, and its key, as PEM files.
func WritePair(t testing.TB, certificate tls.Certificate, certificateFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(certificate.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certificateFile, "CERTIFICATE", certificate.Certificate[0])
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
