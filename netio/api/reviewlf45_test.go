package api

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"sequent/netio"
)

// reviewBody is a body larger than what fasthttp reads before it calls the handler
// (8 KiB), so that the handler waits in readBody for the rest.
var reviewBody = `[{"id":"77","ledger":1,"code":1}]` + strings.Repeat(" ", 16<<10)

// slowBody is one request on a raw connection whose body is held back after its first
// 8 KiB, until the test has done what it wants to happen while the server reads it.
type slowBody struct {
	t      *testing.T
	conn   net.Conn
	header http.Header
}

// startSlowBody sends header and the first 8 KiB of reviewBody as POST /v1/accounts,
// and returns once the handler is waiting in readBody for the rest (its authentication
// headers have then been checked: authenticateHeaders runs before readBody).
func startSlowBody(t *testing.T, h *harness, header http.Header) *slowBody {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.server.Address(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	var request strings.Builder
	fmt.Fprintf(&request, "POST /v1/accounts HTTP/1.1\r\nHost: test\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s",
		len(reviewBody), headerLines(header), reviewBody[:8<<10])
	if _, err := conn.Write([]byte(request.String())); err != nil {
		t.Fatal(err)
	}
	waitForGoroutineIn(t, "api.(*Server).readBody(")
	return &slowBody{t: t, conn: conn, header: header}
}

// finish sends the rest of the body and returns the answer's status and error code.
func (s *slowBody) finish() (int, string) {
	s.t.Helper()
	if _, err := s.conn.Write([]byte(reviewBody[8<<10:])); err != nil {
		s.t.Fatal(err)
	}
	answer, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(answer.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	var e Error
	_ = json.Unmarshal(body, &e)
	return answer.StatusCode, e.Error
}

// waitForGoroutineIn waits (bounded by waitMax) until a goroutine's stack holds
// function: a point the server has reached, without timing.
func waitForGoroutineIn(t *testing.T, function string) {
	t.Helper()
	buffer := make([]byte, 1<<20)
	for deadline := time.Now().Add(waitMax); time.Now().Before(deadline); {
		if strings.Contains(string(buffer[:runtime.Stack(buffer, true)]), function) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no goroutine reached %s", function)
}

// TestReviewLF45ReplayHeldPastTheWindowIsRefused: a copy of an accepted request (an
// on-path attacker's replay) whose headers arrive at the edge of the clock window and
// whose body arrives once the window has passed must be refused. The nonce cache
// remembers a nonce only until its timestamp plus the window, on the understanding that
// the window check refuses any copy after that; since session 45 the window is checked
// when the headers arrive (authenticateHeaders) and the nonce only after the body
// (up to readTimeout later), by which time the original's nonce is forgotten, so the
// replay was accepted (before session 45 both were checked after the body:
// timestamp_out_of_window).
func TestReviewLF45ReplayHeldPastTheWindowIsRefused(t *testing.T) {
	h := newHarness(t)
	h.clock.freeze()
	h.server.startedMs = h.clock.now().Add(-time.Hour).UnixMilli()
	header := http.Header{}
	if err := h.signer(operatorClient).Sign(header, "POST", "/v1/accounts",
		[]byte(reviewBody)); err != nil {
		t.Fatal(err)
	}
	original, err := http.NewRequest("POST", h.base+"/v1/accounts", strings.NewReader(reviewBody))
	if err != nil {
		t.Fatal(err)
	}
	original.Header = header.Clone()
	original.Header.Set("Content-Type", "application/json")
	if r := h.send(original); r.code != http.StatusCreated && r.code != http.StatusOK {
		t.Fatalf("the original request: HTTP %d %s", r.code, r.body)
	}
	// The replay's headers arrive exactly at the window's edge (still inside it) ...
	h.clock.advance(ClockWindowDefault)
	replay := startSlowBody(t, h, header)
	// ... and its body a second later, when the original's nonce is no longer kept.
	h.clock.advance(time.Second)
	code, errorCode := replay.finish()
	if code != http.StatusUnauthorized ||
		(errorCode != "timestamp_out_of_window" && errorCode != "nonce_replayed") {
		t.Fatalf("replay whose body arrived after the window: HTTP %d %q, want 401 "+
			"timestamp_out_of_window (or nonce_replayed)", code, errorCode)
	}
}

// TestReviewLF45KeyRemovedWhileTheBodyIsReadIsRefused: a reload that removes a key
// refuses every request it has not yet accepted (TestRevokedKeyRefusedAtOnce: "every
// request is checked against the keys in force"), including one whose headers arrived
// before the reload and whose body after it. Since session 45 the key is looked up when
// the headers arrive and not again, so such a request was accepted with the removed key
// up to readTimeout after the reload (before session 45: unknown_key).
func TestReviewLF45KeyRemovedWhileTheBodyIsReadIsRefused(t *testing.T) {
	h := newHarness(t)
	header := http.Header{}
	if err := h.signer(plainClient).Sign(header, "POST", "/v1/accounts",
		[]byte(reviewBody)); err != nil {
		t.Fatal(err)
	}
	slow := startSlowBody(t, h, header)
	file := netio.KeysFile{Version: netio.KeysFileVersion}
	for _, client := range h.server.config.Keys.Clients() {
		if client.ID == plainClient {
			continue // Removed.
		}
		file.Clients = append(file.Clients, netio.KeysFileClient{ID: client.ID, Name: client.Name,
			Permissions: netio.PermissionNames(client.Permissions),
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}})
	}
	if err := h.server.config.Keys.Replace(file); err != nil {
		t.Fatal(err)
	}
	if code, errorCode := slow.finish(); code != http.StatusUnauthorized || errorCode != "unknown_key" {
		t.Fatalf("request of a key removed while its body was read: HTTP %d %q, want 401 "+
			"unknown_key", code, errorCode)
	}
}

// TestReviewLF45DrainedConnectionSaysItCloses: a request refused from its headers whose
// body is over fasthttp's unread-body limit (256 KiB) has its body drained by a hijacked
// connection, which is then closed. Its answer must say so (Connection: close), or a
// keep-alive client sends its next request on a connection the server closes without
// reading it, and cannot tell whether that request was served. Here the next request
// (GET /v1/time) is pipelined behind the body: it must either be answered, or the
// refusal must have said that the connection closes. Before the fix the refusal said
// nothing and the next request went unanswered.
func TestReviewLF45DrainedConnectionSaysItCloses(t *testing.T) {
	h := newHarness(t)
	conn, err := net.DialTimeout("tcp", h.server.Address(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	announced := fasthttpUnreadBodyMax + 64<<10
	requests := fmt.Sprintf("POST /v1/accounts HTTP/1.1\r\nHost: test\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"+
		"GET /v1/time HTTP/1.1\r\nHost: test\r\n\r\n", announced, strings.Repeat(" ", announced))
	written := make(chan error, 1)
	go func() { // The server answers before it reads the body: write while reading.
		_, err := conn.Write([]byte(requests))
		written <- err
	}()
	reader := bufio.NewReader(conn)
	refusal, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatalf("the refusal: %v", err)
	}
	_, _ = io.Copy(io.Discard, refusal.Body)
	refusal.Body.Close()
	if refusal.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the refusal: HTTP %d, want 401", refusal.StatusCode)
	}
	if err := <-written; err != nil {
		t.Fatalf("writing the body and the next request: %v", err)
	}
	if refusal.Close {
		return // Said: the client does not send a next request on this connection.
	}
	next, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatalf("the refusal kept the connection (no Connection: close), but the next "+
			"request on it went unanswered: %v", err)
	}
	next.Body.Close()
}
