package ops

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawRequest sends one request as written (its request line and headers, so that the
// test chooses the Host header byte for byte, or leaves it out) and returns the answer.
func rawRequest(t *testing.T, server *Server, head string) response {
	t.Helper()
	return rawSend(t, server, head, "")
}

// rawSend writes head (a request line and headers), "Connection: close", the blank line
// and body on a new connection, and reads the answer.
func rawSend(t *testing.T, server *Server, head, body string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", server.Address(), waitMax)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitMax))
	if _, err := conn.Write([]byte(head + "Connection: close\r\n\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	result, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", head, err)
	}
	defer result.Body.Close()
	data, err := io.ReadAll(result.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: result.StatusCode, body: data, header: result.Header}
}

// TestHostHeaderAcceptedForLiteralsLocalhostAndListedNames pins which Host headers the
// operators' port answers: IP literals (v4, bracketed v6), localhost and the names of
// Config.Hosts, case-insensitively, with any port or none, and a request without Host.
func TestHostHeaderAcceptedForLiteralsLocalhostAndListedNames(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Hosts: []string{"Node1.Example", "sequent-a"},
		RequestsPerSecondPerAddress: -1}, fake.sources())
	for _, host := range []string{server.Address(), "127.0.0.1", "10.1.2.3:7401",
		"[::1]:7401", "[::1]", "[2001:db8::7]:80", "localhost", "LOCALHOST:7401",
		"localhost.:7401", "localhost:", "node1.example:7401", "NODE1.EXAMPLE",
		"node1.example.", "sequent-a:9999"} {
		for _, path := range []string{PathStatus, PathConsole} {
			got := rawRequest(t, server, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n")
			if got.code != http.StatusOK {
				t.Errorf("GET %s with Host %q: %d %s, want 200", path, host, got.code, got.body)
			}
		}
	}
	// HTTP/1.0 has no Host header; a rebinding browser always sends one.
	if got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.0\r\n"); got.code != http.StatusOK {
		t.Errorf("HTTP/1.0 GET %s without Host: %d %s, want 200", PathStatus, got.code, got.body)
	}
}

// TestHostHeaderOtherNamesRefused421OnEveryRoute: a Host naming anything else (an
// unlisted name, a listed name's look-alike, a malformed header) gets 421 with the JSON
// error naming --http-host, on the token-free routes and on an admin route with a valid
// token alike (the action does not run), and each refusal is counted.
func TestHostHeaderOtherNamesRefused421OnEveryRoute(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Hosts: []string{"node1.example"},
		Tokens: TokenChecker(testTokens), RequestsPerSecondPerAddress: -1,
		MetricsCacheInterval: -1}, fake.sources())
	refusedHosts := []string{"attacker.example:7401", "attacker.example", "node1.example.evil",
		"evil-node1.example", "xnode1.example", "localhost.evil:7401", "127.0.0.1:123456",
		"127.1", "2130706433"}
	check := func(what string, got response) {
		t.Helper()
		if got.code != http.StatusMisdirectedRequest {
			t.Errorf("%s: %d %s, want 421", what, got.code, got.body)
			return
		}
		var reply Reply
		if err := json.Unmarshal(got.body, &reply); err != nil {
			t.Fatalf("%s: body %q: %v", what, got.body, err)
		}
		if reply.OK || reply.Code != CodeHostNotAllowed || !strings.Contains(reply.Error, "--http-host") {
			t.Errorf("%s: reply %+v, want code %s and an error naming --http-host", what,
				reply, CodeHostNotAllowed)
		}
	}
	for _, host := range refusedHosts {
		for _, path := range []string{PathStatus, PathConsole, PathMetrics, "/no-such-path"} {
			check("GET "+path+" Host "+host,
				rawRequest(t, server, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n"))
		}
	}
	// fasthttp itself answers 400 to these before the handler (hostAccepted refuses them
	// too, should it ever pass them on): refused either way, never served.
	for _, host := range []string{"::1", "[::1", "[::1]x", "127.0.0.1:port",
		"[127.0.0.1]:7401"} {
		got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.1\r\nHost: "+host+"\r\n")
		if got.code != http.StatusBadRequest && got.code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with malformed Host %q: %d %s, want 400 or 421", PathStatus,
				host, got.code, got.body)
		}
	}
	check("POST promote with a valid token, Host attacker.example", rawRequest(t, server,
		"POST "+PathPromote+" HTTP/1.1\r\nHost: attacker.example:7401\r\n"+
			"Authorization: Bearer "+testTokens["alice"]+"\r\nContent-Length: 0\r\n"))
	// An absolute-form request line names its host itself, whatever the header says.
	check("GET absolute-form http://attacker.example", rawRequest(t, server,
		"GET http://attacker.example:7401"+PathStatus+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
	if promotions := countEvent(fake.eventList(), "promote"); promotions != 0 {
		t.Errorf("promote ran %d times for a refused host", promotions)
	}
	want := float64(len(refusedHosts)*4 + 2)
	if got := value(t, scrape(t, server), "sequent_http_refusals_total", "reason",
		"host_not_allowed"); got != want {
		t.Errorf("host_not_allowed refusals = %v, want %v", got, want)
	}
}

// TestParseHostsRefusesWhatIsNotAName: a port, a wildcard, brackets or an empty entry
// in Config.Hosts fails New (ErrConfig) instead of silently never matching.
func TestParseHostsRefusesWhatIsNotAName(t *testing.T) {
	for _, entry := range []string{"", "node1.example:7401", "*.example", "[::1]",
		"node..example", "node 1", "http://node1", strings.Repeat("a", hostBytesMax+1),
		"\u212aey.example"} { // Kelvin sign: strings.ToLower made it "key.example".
		if _, err := ParseHosts([]string{entry}); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseHosts(%q): %v, want ErrConfig", entry, err)
		}
	}
	names, err := ParseHosts([]string{" Node1.Example. ", "b_2-x"})
	if err != nil || len(names) != 2 || names[0] != "node1.example" || names[1] != "b_2-x" {
		t.Errorf("ParseHosts: %q, %v; want [node1.example b_2-x]", names, err)
	}
	fake := newFakeSources()
	if _, err := New(Config{Hosts: []string{"node:1"}}, fake.sources()); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a host name holding a port: %v, want ErrConfig", err)
	}
	if _, err := ParseHosts(make([]string, hostsMax+1)); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseHosts of %d names: %v, want ErrConfig", hostsMax+1, err)
	}
	// The bounds themselves are accepted: hostsMax names, a name of hostBytesMax bytes.
	most := make([]string, hostsMax)
	for i := range most {
		most[i] = "node" + strconv.Itoa(i)
	}
	if _, err := ParseHosts(most); err != nil {
		t.Errorf("ParseHosts of %d names: %v, want them accepted", hostsMax, err)
	}
	if _, err := ParseHosts([]string{strings.Repeat("a", hostBytesMax)}); err != nil {
		t.Errorf("ParseHosts of a %d-byte name: %v, want it accepted", hostBytesMax, err)
	}
}

func countEvent(events []string, name string) int {
	count := 0
	for _, event := range events {
		if event == name {
			count++
		}
	}
	return count
}

// TestHostAcceptedParsesTheHeader covers the forms fasthttp refuses before the handler
// sees them, so that hostAccepted stays strict on its own.
func TestHostAcceptedParsesTheHeader(t *testing.T) {
	names := []string{"node1.example"}
	for header, want := range map[string]bool{"": true, "127.0.0.1:7401": true,
		"[::1]:1": true, "[::1]:": true, "Node1.Example.:7401": true, "localhost": true,
		"::1": false, "[::1": false, "[::1]x": false, "[::1]:p": false, "127.0.0.1:port": false,
		"[127.0.0.1]": false, "127.0.0.1:1234567": false, "node2.example": false,
		"[fe80::1%25eth0]": true,
		// An IPv6 literal without brackets whose last group reads as a port: the host
		// part parses as an address, which must still be refused (only IPv4 goes bare).
		"::1:7401": false, "::ffff:127.0.0.1:80": false} {
		if got := hostAccepted(names, []byte(header)); got != want {
			t.Errorf("hostAccepted(%q) = %v, want %v", header, got, want)
		}
	}
}
