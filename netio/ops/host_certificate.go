package ops

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
)

// servedCertificate is the TLS pair the port presents and the Host names it accepts while
// it does: Config.Hosts and the certificate's DNS names. They are swapped together, so
// that a request never sees the names of one certificate with another in use.
type servedCertificate struct {
	pair  tls.Certificate
	hosts []string // Config.Hosts (ParseHosts), then certificateHostNames.
}

// certificateHostNames returns the DNS names a certificate is valid for, lowercased and
// without a trailing dot, for the Host check: operators and scrapers reach a TLS port
// by the certificate's name (their client checks it), and a rebinding page cannot
// present that name's certificate, so the names are as safe to accept as --http-host's.
// The names are the DNS subject alternative names; the common name only when the
// certificate has no subject alternative name at all (RFC 6125, section 6.4.4). A
// wildcard ("*.example.com") is kept as is and matches one label (hostMatches); one over
// a single label ("*.com") is skipped. Names that are not DNS names (IDNA is already
// ASCII; anything else) are skipped.
func certificateHostNames(pair *tls.Certificate) ([]string, error) {
	if len(pair.Certificate) == 0 {
		return nil, fmt.Errorf("no certificate in the chain")
	}
	leaf := pair.Leaf
	if leaf == nil {
		parsed, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, err
		}
		leaf = parsed
	}
	candidates := leaf.DNSNames
	if !hasSubjectAlternativeNames(leaf) && leaf.Subject.CommonName != "" {
		candidates = []string{leaf.Subject.CommonName}
	}
	if len(candidates) > certificateHostsMax {
		return nil, fmt.Errorf("%d DNS names, at most %d", len(candidates),
			certificateHostsMax)
	}
	names := make([]string, 0, len(candidates))
	for _, candidate := range candidates {
		// ASCII case only: strings.ToLower maps U+212A (Kelvin) to "k" and U+0130 to
		// "i", which made a common name that is no DNS name pass as one
		// (TestReviewHC49CommonNameFoldsOnlyASCII). validHostName refuses the rest.
		name := strings.TrimSuffix(lowerASCII(candidate), ".")
		// A wildcard over one label ("*.com") would accept every name of a top-level
		// domain, a rebinding page's included; browsers refuse to match one and public
		// CAs may not issue one (TestReviewHC49WildcardOverOneLabelSkipped).
		if validHostName(name) || strings.HasPrefix(name, "*.") &&
			validHostName(name[len("*."):]) && strings.Contains(name[len("*."):], ".") {
			names = append(names, name)
		}
	}
	return names, nil
}

// hasSubjectAlternativeNames reports whether the certificate has a subject alternative
// name extension, of whatever kinds: x509 parses only DNS, IP, URI and email entries, so
// one holding only others (an SRV-ID otherName, a registeredID) leaves those fields empty
// (TestReviewHC49CommonNameNotTakenBesideAnotherSAN).
func hasSubjectAlternativeNames(certificate *x509.Certificate) bool {
	for _, extension := range certificate.Extensions {
		if extension.Id.Equal(subjectAlternativeNameOID) {
			return true
		}
	}
	return false
}

// subjectAlternativeNameOID is id-ce-subjectAltName (RFC 5280, section 4.2.1.6).
var subjectAlternativeNameOID = asn1.ObjectIdentifier{2, 5, 29, 17}

// lowerASCII lowercases the ASCII letters of text and leaves every other byte as it is.
func lowerASCII(text string) string {
	lowered := []byte(text)
	for i, c := range lowered {
		if 'A' <= c && c <= 'Z' {
			lowered[i] = c + 'a' - 'A'
		}
	}
	return string(lowered)
}

// hostMatches reports whether a Host's name (no port, no trailing dot) is name (lowercase
// ASCII) but for ASCII case, or, for a name "*.rest", is one label of letters, digits,
// hyphens and underscores, a dot and rest: as a TLS client matches a wildcard, never
// two labels ("a.b.rest") nor rest itself.
func hostMatches(host []byte, name string) bool {
	if !strings.HasPrefix(name, "*.") {
		return equalFoldASCII(host, name)
	}
	suffix := name[len("*"):] // ".rest"
	if len(host) <= len(suffix) {
		return false
	}
	label, rest := host[:len(host)-len(suffix)], host[len(host)-len(suffix):]
	if !equalFoldASCII(rest, suffix) {
		return false
	}
	for _, c := range label {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if !hostLabelByte(c) {
			return false
		}
	}
	return true
}

// refusedHost checks the Host header and the request line's host (an absolute-form
// target names one) and returns the first one refused, if any.
func refusedHost(names []string, header, requestLine []byte) ([]byte, bool) {
	if !hostAccepted(names, header) {
		return header, false
	}
	if !hostAccepted(names, requestLine) {
		return requestLine, false
	}
	return nil, true
}

// loggableHost renders a refused Host for the log: at most hostLogBytesMax bytes of it,
// every byte outside printable ASCII and every backslash as \xNN, so that a client
// cannot forge log lines or terminal escapes; a longer Host ends with "...".
func loggableHost(host []byte) string {
	cut := host
	if len(cut) > hostLogBytesMax {
		cut = cut[:hostLogBytesMax]
	}
	var text strings.Builder
	text.Grow(len(cut) + len("..."))
	for _, c := range cut {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			fmt.Fprintf(&text, `\x%02x`, c)
			continue
		}
		text.WriteByte(c)
	}
	if len(cut) < len(host) {
		text.WriteString("...")
	}
	return text.String()
}
