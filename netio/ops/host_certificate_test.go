package ops

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/tools/testcert"
)

// issueNamed signs a server certificate with this common name, DNS names and IP
// addresses and writes it and its key as PEM to certificateFile and keyFile.
func issueNamed(t *testing.T, authority *testcert.Authority, certificateFile, keyFile,
	commonName string, dnsNames []string, addresses ...net.IP) {
	t.Helper()
	certificate := authority.Sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dnsNames, IPAddresses: addresses})
	testcert.WritePair(t, certificate, certificateFile, keyFile)
}

// TestHostCertificateDNSNamesAcceptedOverTLS: with a TLS certificate, its DNS names are
// accepted in Host as if listed in Config.Hosts (none is listed here): a name of the
// certificate gets 200 over HTTPS, in any case, with a port or a trailing dot; a wildcard
// name matches one label, not two and not the bare parent; another name gets 421. After
// ReloadCertificate the new certificate's names are accepted and the old one's are not;
// a failed reload keeps the names in use.
func TestHostCertificateDNSNamesAcceptedOverTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	directory := t.TempDir()
	certificateFile, keyFile := filepath.Join(directory, "cert.pem"),
		filepath.Join(directory, "key.pem")
	loopback := net.ParseIP("127.0.0.1")
	issueNamed(t, authority, certificateFile, keyFile, "cn-name.example.net",
		[]string{"node1.example.net", "*.ops.example.net"}, loopback)
	server := startServer(t, Config{TLSCertFile: certificateFile, TLSKeyFile: keyFile,
		RequestsPerSecondPerAddress: -1}, newFakeSources().sources())
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: authority.Pool(), MinVersion: tls.VersionTLS12}}}
	_, port, err := net.SplitHostPort(server.Address())
	if err != nil {
		t.Fatal(err)
	}
	// The client dials 127.0.0.1 (the certificate names it too) and sends host.
	status := func(host string) int {
		t.Helper()
		request, err := http.NewRequest(http.MethodGet, "https://"+server.Address()+
			PathStatus, nil)
		if err != nil {
			t.Fatal(err)
		}
		request.Host = host
		response, err := client.Do(request)
		if err != nil {
			t.Fatalf("Host %q: %v", host, err)
		}
		defer response.Body.Close()
		_, _ = io.Copy(io.Discard, response.Body)
		return response.StatusCode
	}
	expect := func(when string, hosts map[string]int) {
		t.Helper()
		for host, want := range hosts {
			if got := status(host); got != want {
				t.Errorf("%s: GET %s with Host %q: %d, want %d", when, PathStatus, host,
					got, want)
			}
		}
	}
	expect("first certificate", map[string]int{
		"node1.example.net:" + port:    http.StatusOK,
		"NODE1.Example.NET.":           http.StatusOK,
		"a.ops.example.net:" + port:    http.StatusOK,
		"Sequent-7.OPS.example.net":    http.StatusOK,
		"a.b.ops.example.net:" + port:  http.StatusMisdirectedRequest, // Two labels.
		"ops.example.net:" + port:      http.StatusMisdirectedRequest, // The bare parent.
		"xops.example.net":             http.StatusMisdirectedRequest,
		"cn-name.example.net:" + port:  http.StatusMisdirectedRequest, // CN beside SANs.
		"node2.example.net:" + port:    http.StatusMisdirectedRequest,
		"node1.example.net.evil":       http.StatusMisdirectedRequest,
		"127.0.0.1:" + port:            http.StatusOK,
		"attacker.example.com:" + port: http.StatusMisdirectedRequest,
	})
	issueNamed(t, authority, certificateFile, keyFile, "", []string{"node2.example.net"}, loopback)
	if err := server.ReloadCertificate(); err != nil {
		t.Fatal(err)
	}
	renewed := map[string]int{
		"node2.example.net:" + port: http.StatusOK,
		"node1.example.net:" + port: http.StatusMisdirectedRequest,
		"a.ops.example.net":         http.StatusMisdirectedRequest,
	}
	expect("after the reload", renewed)
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := server.ReloadCertificate(); err == nil {
		t.Fatal("a reload from a broken key file succeeded")
	}
	expect("after a failed reload", renewed)
}

// TestHostCertificateNamesListedHostsKept: Config.Hosts stays accepted beside the
// certificate's names, before and after a reload.
func TestHostCertificateNamesListedHostsKept(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	directory := t.TempDir()
	certificateFile, keyFile := filepath.Join(directory, "cert.pem"),
		filepath.Join(directory, "key.pem")
	issueNamed(t, authority, certificateFile, keyFile, "", []string{"node1.example.net"})
	server, err := New(Config{Address: "127.0.0.1:0", TLSCertFile: certificateFile,
		TLSKeyFile: keyFile, Hosts: []string{"listed.example"}}, newFakeSources().sources())
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		hosts := server.certificate.Load().hosts
		if strings.Join(hosts, ",") != "listed.example,node1.example.net" {
			t.Errorf("round %d: accepted names %q", round, hosts)
		}
		if err := server.ReloadCertificate(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCertificateHostNamesTakesTheCommonNameOnlyWithoutSANs: the common name is a Host
// name only when the certificate has no subject alternative name at all; names are
// lowercased without a trailing dot; what is not a DNS name is skipped.
func TestCertificateHostNamesTakesTheCommonNameOnlyWithoutSANs(t *testing.T) {
	authority := testcert.NewAuthority(t, "host check CA")
	cases := []struct {
		commonName string
		dnsNames   []string
		addresses  []net.IP
		want       string
	}{
		{"CN-Only.Example.", nil, nil, "cn-only.example"},
		{"cn.example", nil, []net.IP{net.ParseIP("10.0.0.1")}, ""},
		{"cn.example", []string{"San.Example."}, nil, "san.example"},
		{"not a name", nil, nil, ""},
		{"cn.example", []string{"*.w.example", "*", "a.*.example", "ok.example"}, nil,
			"*.w.example,ok.example"},
	}
	for _, c := range cases {
		names := certificateNamesOf(t, authority, c.commonName, c.dnsNames, c.addresses...)
		if got := strings.Join(names, ","); got != c.want {
			t.Errorf("CN %q, DNS %q, IP %v: names %q, want %q", c.commonName, c.dnsNames,
				c.addresses, got, c.want)
		}
	}
}

// TestHostMatchesWildcardOneLabel pins hostMatches on its own.
func TestHostMatchesWildcardOneLabel(t *testing.T) {
	for host, want := range map[string]bool{
		"a.w.example": true, "A-1_b.W.Example": true, "w.example": false, ".w.example": false,
		"a.b.w.example": false, "aw.example": false, "a.w.example.evil": false,
		"a@b.w.example": false, "a:1.w.example": false,
	} {
		if got := hostMatches([]byte(host), "*.w.example"); got != want {
			t.Errorf("hostMatches(%q, *.w.example) = %v, want %v", host, got, want)
		}
	}
	// A name that is not a wildcard matches only itself.
	if hostMatches([]byte("a.w.example"), "w.example") ||
		!hostMatches([]byte("W.example"), "w.example") {
		t.Error("exact names")
	}
}

// lockedBuffer is a log destination the server's goroutines and the test share.
type lockedBuffer struct {
	mutex sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(data []byte) (int, error) {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.Buffer.Write(data)
}

func (b *lockedBuffer) text() string {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.Buffer.String()
}

// TestHostRefusalLogNamesTheHost: the refusal's log line carries the refused Host (the
// header, or the request line's host when only that is refused), so that an operator
// sees which name to add with --http-host.
func TestHostRefusalLogNamesTheHost(t *testing.T) {
	for _, c := range []struct{ head, want string }{
		{"GET /v1/status HTTP/1.1\r\nHost: attacker.example:7401\r\n",
			"attacker.example:7401"},
		{"GET http://other.example/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n",
			"other.example"},
		// Escaped as loggableHost does: the line carries its rendering, not the bytes.
		{"GET /v1/status HTTP/1.1\r\nHost: \xc3\xa9.example\r\n", `\xc3\xa9.example`},
	} {
		var log lockedBuffer
		server := startServer(t, Config{RequestsPerSecondPerAddress: -1,
			Logger: slog.New(slog.NewJSONHandler(&log, nil))}, newFakeSources().sources())
		if got := rawRequest(t, server, c.head); got.code != http.StatusMisdirectedRequest {
			t.Fatalf("%q: %d %s, want 421", c.head, got.code, got.body)
		}
		found := false
		for _, line := range strings.Split(log.text(), "\n") {
			var record map[string]any
			if json.Unmarshal([]byte(line), &record) != nil ||
				record["msg"] != "ops: request refused" {
				continue
			}
			found = true
			if record["reason"] != "host_not_allowed" || record["host"] != c.want {
				t.Errorf("%q: refusal logged as %s, want host %q", c.head, line, c.want)
			}
		}
		if !found {
			t.Errorf("%q: no refusal logged:\n%s", c.head, log.text())
		}
	}
}

// TestLoggableHostBoundedAndEscaped: control bytes, bytes outside ASCII and backslashes
// are written as \xNN; a Host over hostLogBytesMax bytes is cut there and ends "...".
func TestLoggableHostBoundedAndEscaped(t *testing.T) {
	for host, want := range map[string]string{
		"node.example:80":        "node.example:80",
		"a\nb\x1b[31m\x7f":       `a\x0ab\x1b[31m\x7f`,
		"loc\xc5\xbfalhost\\x00": `loc\xc5\xbfalhost\x5cx00`,
		"":                       "",
	} {
		if got := loggableHost([]byte(host)); got != want {
			t.Errorf("loggableHost(%q) = %q, want %q", host, got, want)
		}
	}
	long := strings.Repeat("a", hostLogBytesMax+100)
	if got := loggableHost([]byte(long)); got != long[:hostLogBytesMax]+"..." {
		t.Errorf("a Host of %d bytes logged as %d bytes", len(long), len(got))
	}
	exact := strings.Repeat("b", hostLogBytesMax)
	if got := loggableHost([]byte(exact)); got != exact {
		t.Errorf("a Host of exactly hostLogBytesMax bytes logged as %q", got)
	}
}
