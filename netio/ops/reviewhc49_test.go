package ops

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"path/filepath"
	"testing"

	"sequent/tools/testcert"
)

// certificateNamesOf issues a certificate with this common name, DNS names and IP
// addresses and returns the Host names certificateHostNames takes from it.
func certificateNamesOf(t *testing.T, authority *testcert.Authority, commonName string,
	dnsNames []string, addresses ...net.IP) []string {
	t.Helper()
	directory := t.TempDir()
	certificateFile, keyFile := filepath.Join(directory, "cert.pem"),
		filepath.Join(directory, "key.pem")
	issueNamed(t, authority, certificateFile, keyFile, commonName, dnsNames, addresses...)
	pair, err := tls.LoadX509KeyPair(certificateFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	names, err := certificateHostNames(&pair)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestReviewHC49CommonNameFoldsOnlyASCII: a common name (a UTF8String, unlike a DNS SAN,
// which x509 keeps to ASCII) holding U+212A KELVIN SIGN is not a DNS name; strings.ToLower
// turned it into "k", so the certificate made "key.example" acceptable though no TLS client
// matches that name to it (the same Unicode folding TestReviewHO49NamesMatchOnlyInASCIICase
// closed for Host headers).
func TestReviewHC49CommonNameFoldsOnlyASCII(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	for _, commonName := range []string{"\u212aey.example", "l\u0130ve.example"} {
		names := certificateNamesOf(t, authority, commonName, nil)
		if len(names) != 0 {
			t.Errorf("CN %q: names %q, want none (not an ASCII DNS name)", commonName, names)
		}
		for _, host := range []string{"key.example", "live.example"} {
			if hostAccepted(names, []byte(host)) {
				t.Errorf("CN %q: Host %q accepted", commonName, host)
			}
		}
	}
}

// TestReviewHC49WildcardOverOneLabelSkipped: a SAN "*.com" (a wildcard over a whole
// top-level domain, which browsers refuse to match and public CAs may not issue) made
// every name under it acceptable, "evil.com" included: exactly the name a rebinding page
// has. A wildcard counts only over two labels or more; "*.example.com" still does.
func TestReviewHC49WildcardOverOneLabelSkipped(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	names := certificateNamesOf(t, authority, "", []string{"*.com", "*.", "*.example.com"})
	for host, want := range map[string]bool{"evil.com": false, "EVIL.com:443": false,
		"a.example.com": true, "example.com": false} {
		if got := hostAccepted(names, []byte(host)); got != want {
			t.Errorf("names %q: Host %q accepted %v, want %v", names, host, got, want)
		}
	}
}

// TestReviewHC49CommonNameNotTakenBesideAnotherSAN: certificateHostNames's doc (and
// RFC 6125 6.4.4) take the common name only when the certificate has no subject
// alternative name at all; a SAN extension holding only a kind x509 does not parse (here
// a registeredID; an SRV-ID otherName is the same) left DNSNames, IPAddresses, URIs and
// EmailAddresses empty, and the common name was taken anyway.
func TestReviewHC49CommonNameNotTakenBesideAnotherSAN(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	// SEQUENCE { [8] registeredID 1.2.3.4 }
	registeredID := []byte{0x30, 0x05, 0x88, 0x03, 0x2a, 0x03, 0x04}
	certificate := authority.Sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "cn.example"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17},
			Value: registeredID}}})
	names, err := certificateHostNames(&tls.Certificate{Certificate: certificate.Certificate})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("a certificate with a SAN extension: names %q, want none (no CN)", names)
	}
}
