package api

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sequent/netio"
)

// headerRefusalCase is a request the headers alone refuse.
type headerRefusalCase struct {
	name   string
	header func(h *harness) http.Header // Signed (or not) for headerRefusalBody.
	code   string
}

// headerRefusalBody is the body the refused requests announce (signed over, where
// signed): 16 KiB, of which only the first headerRefusalSentBytes are sent.
var headerRefusalBody = `[{"id":"9","ledger":1,"code":1}]` + strings.Repeat(" ", 16<<10)

// headerRefusalSentBytes is what fasthttp reads of a streamed body before it calls the
// handler (min(Content-Length, 8 KiB), readBodyWithStreaming): sent, so that the handler
// runs; the rest is what the server must not wait for.
const headerRefusalSentBytes = 8 << 10

// TestHeaderRefusalsComeBeforeTheBody sends requests whose authentication headers fail
// (none, no key id, an unknown key, a timestamp out of the window, no signature, a
// version below the key's minimum), each announcing a body of 16 KiB and sending only
// what fasthttp reads before calling the handler (8 KiB): each is
// answered at once with the 401 code the same request gets with its body sent (the
// answer before session 45, when the body was read first), whether the body's rest is
// one fasthttp drops after the answer or a larger one the server drops. Before, the
// server waited for the body (until its read timeout) and answered 400 bad_request.
func TestHeaderRefusalsComeBeforeTheBody(t *testing.T) {
	h := newHarness(t)
	sign := func(h *harness, signer *Signer) http.Header {
		header := http.Header{}
		if err := signer.Sign(header, "POST", "/v1/accounts", []byte(headerRefusalBody)); err != nil {
			t.Fatal(err)
		}
		return header
	}
	cases := []headerRefusalCase{
		{"no authentication", func(*harness) http.Header { return http.Header{} },
			"missing_authentication"},
		{"no key id", func(h *harness) http.Header {
			header := sign(h, h.signer(operatorClient))
			header.Del(HeaderKey)
			return header
		}, "malformed_authentication"},
		{"unknown key", func(h *harness) http.Header {
			signer := h.signer(operatorClient)
			signer.Client = 999
			return sign(h, signer)
		}, "unknown_key"},
		{"stale timestamp", func(h *harness) http.Header {
			signer := h.signer(operatorClient)
			signer.Now = func() time.Time { return h.clock.now().Add(-time.Hour) }
			return sign(h, signer)
		}, "timestamp_out_of_window"},
		{"no signature", func(h *harness) http.Header {
			header := sign(h, h.signer(operatorClient))
			header.Del(HeaderSignature)
			return header
		}, "malformed_authentication"},
		{"version below the key's minimum", func(h *harness) http.Header {
			signer := h.signer(readerClient) // Version 2 required below.
			signer.Version = SignatureVersion1
			return sign(h, signer)
		}, "signature_version_too_old"},
	}
	requireVersion2(t, h, readerClient)
	for _, c := range cases {
		// The same request with its body: the answer the server gave before.
		full, err := http.NewRequest("POST", h.base+"/v1/accounts", strings.NewReader(headerRefusalBody))
		if err != nil {
			t.Fatal(err)
		}
		full.Header = c.header(h)
		h.expect(h.send(full), http.StatusUnauthorized, c.code)

		// Bodies fasthttp drops itself after the answer, and bodies past its limit, which
		// the server drops after the answer (discardBodyAfterAnswer).
		for _, announced := range []int{len(headerRefusalBody), fasthttpUnreadBodyMax + 64<<10} {
			code, errorCode := sendHeadersOnly(t, h.server.Address(), c.header(h), announced)
			if code != http.StatusUnauthorized || errorCode != c.code {
				t.Fatalf("%s, %d bytes announced, %d sent: HTTP %d %q, want 401 %q", c.name,
					announced, headerRefusalSentBytes, code, errorCode, c.code)
			}
		}
	}
	// Headers that pass still have their body read and signed over: a signature over
	// another body is refused bad_signature after the read, as before.
	header := sign(h, h.signer(operatorClient))
	other, err := http.NewRequest("POST", h.base+"/v1/accounts",
		strings.NewReader(strings.Replace(headerRefusalBody, "9", "8", 1)))
	if err != nil {
		t.Fatal(err)
	}
	other.Header = header
	h.expect(h.send(other), http.StatusUnauthorized, "bad_signature")
}

// requireVersion2 replaces the keys file with the operator's key and client's key 1,
// which requires signature version 2.
func requireVersion2(t *testing.T, h *harness, client uint64) {
	t.Helper()
	secret := hex.EncodeToString(testSecret)
	if err := h.server.config.Keys.Replace(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{
			{ID: operatorClient, Name: "operator", Permissions: []string{"read", "transfer"},
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}},
			{ID: client, Name: "strict", Permissions: []string{"read", "transfer"},
				Keys: []netio.KeysFileKey{{ID: 1, Secret: secret,
					SignatureVersionMin: SignatureVersion2}}},
		}}); err != nil {
		t.Fatal(err)
	}
}

// sendHeadersOnly sends a POST /v1/accounts with header and a Content-Length of
// announced bytes but only the first headerRefusalSentBytes of headerRefusalBody, and
// reads the answer (bounded: 30 s).
func sendHeadersOnly(t *testing.T, address string, header http.Header, announced int) (code int,
	errorCode string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var request strings.Builder
	fmt.Fprintf(&request, "POST /v1/accounts HTTP/1.1\r\nHost: %s\r\n", address)
	fmt.Fprintf(&request, "Content-Type: application/json\r\nContent-Length: %d\r\n",
		announced)
	request.WriteString(headerLines(header))
	request.WriteString("\r\n")
	request.WriteString(headerRefusalBody[:headerRefusalSentBytes])
	if _, err := conn.Write([]byte(request.String())); err != nil {
		t.Fatal(err)
	}
	answer, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the rest of the body was sent: %v", err)
	}
	defer answer.Body.Close()
	var e Error
	if err := json.NewDecoder(answer.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return answer.StatusCode, e.Error
}

// headerLines writes header as the lines of a request on a raw connection.
func headerLines(header http.Header) string {
	var lines strings.Builder
	for name, values := range header {
		for _, value := range values {
			fmt.Fprintf(&lines, "%s: %s\r\n", name, value)
		}
	}
	return lines.String()
}

// authenticationLines returns an operator's authentication headers for method and uri
// as lines of a raw request: they pass the checks of the headers alone (the body the
// request then sends is not the one signed), so the server goes on to read the body.
func authenticationLines(t testing.TB, h *harness, method, uri string) string {
	t.Helper()
	header := http.Header{}
	if err := h.signer(operatorClient).Sign(header, method, uri, nil); err != nil {
		t.Fatal(err)
	}
	return headerLines(header)
}

// TestRestOfABodyOverTheLimitIsReadAfterAHeaderRefusal: a request refused from its
// headers whose body is over fasthttp's unread-body limit is answered first (Connection:
// close), then the rest of its body is read to its announced length, and only then is the
// connection closed, with a FIN. Without the drain (discardBodyAfterAnswer) the server
// closed at once: the client's next writes of the body met a reset. Unlike a test that
// sends the whole body in one write before it reads, this one sends the rest only after
// the answer has arrived, so the outcome does not depend on which of the answer and the
// reset the client's kernel sees first.
func TestRestOfABodyOverTheLimitIsReadAfterAHeaderRefusal(t *testing.T) {
	h := newHarness(t)
	conn, err := net.DialTimeout("tcp", h.server.Address(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const chunkBytes = 16 << 10
	announced := fasthttpUnreadBodyMax + 1<<20
	head := fmt.Sprintf("POST /v1/accounts HTTP/1.1\r\nHost: test\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", announced)
	first := strings.Repeat(" ", headerRefusalSentBytes)
	if _, err := conn.Write([]byte(head + first)); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(conn)
	answer, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatalf("no answer before the rest of the body was sent: %v", err)
	}
	if _, err := io.Copy(io.Discard, answer.Body); err != nil {
		t.Fatalf("the answer's body: %v", err)
	}
	answer.Body.Close()
	if answer.StatusCode != http.StatusUnauthorized || !answer.Close {
		t.Fatalf("HTTP %d, Connection: close %v; want 401 and close", answer.StatusCode, answer.Close)
	}
	chunk := []byte(strings.Repeat(" ", chunkBytes))
	for sent := len(first); sent < announced; sent += len(chunk) {
		if rest := announced - sent; rest < len(chunk) {
			chunk = chunk[:rest]
		}
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("writing the body after the answer, at byte %d of %d: %v "+
				"(the server closed without reading it)", sent, announced, err)
		}
	}
	if n, err := reader.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the whole body: read %d bytes, %v; want the server's close (EOF)", n, err)
	}
}
