package ops

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// adminCase is one admin endpoint with the action event the fake records for it.
type adminCase struct {
	path, query, action, event string
}

var adminCases = []adminCase{
	{PathPromote, "", ActionPromote, ActionPromote},
	{PathSnapshot, "", ActionSnapshot, ActionSnapshot},
	{PathReloadKeys, "", ActionReloadKeys, ActionReloadKeys},
	{PathLogLevel, "?level=warn", ActionLogLevel, ActionLogLevel + ":warn"},
}

// TestAdminAuthorization runs every admin endpoint without a token (401 and a
// WWW-Authenticate challenge), with another scheme (401), with a wrong, an empty, a
// malformed and an over-long token (403): none of them writes an audit record or runs the
// action. Then with a good token: 200, the audit record (who, action, detail, address,
// time) is written, and only then the action runs.
func TestAdminAuthorization(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	base := "http://" + server.Address()
	refused := []struct {
		header string
		code   int
		reply  string
	}{
		{"", 401, CodeUnauthorized},
		{"Basic YWxpY2U6eA==", 401, CodeUnauthorized},
		{"Bearer wrong-token", 403, CodeForbidden},
		{"Bearer ", 401, CodeUnauthorized}, // Sent as "Bearer": no credential.
		{"Bearer !!", 403, CodeForbidden},
		{"Bearer alice-token-0123456789 extra", 403, CodeForbidden},
		{"Bearer " + strings.Repeat("a", tokenBytesMax+1), 403, CodeForbidden},
		{"Bearer " + testTokens["alice"] + "x", 403, CodeForbidden},
	}
	for _, c := range adminCases {
		for _, r := range refused {
			header := map[string]string{}
			if r.header != "" {
				header["Authorization"] = r.header
			}
			result := call(t, nil, http.MethodPost, base+c.path+c.query, "", nil, header)
			reply := result.reply(t)
			if result.code != r.code || reply.Code != r.reply || reply.OK {
				t.Errorf("%s with %q: %d %s", c.path, r.header, result.code, result.body)
			}
			if r.code == 401 && result.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without a challenge", c.path)
			}
		}
		if events := fake.eventList(); len(events) != 0 {
			t.Fatalf("%s: refused requests left events %v", c.path, events)
		}
	}
	for i, c := range adminCases {
		before := time.Now().UnixNano()
		result := call(t, nil, http.MethodPost, base+c.path+c.query, testTokens["bob"], nil,
			nil)
		reply := result.reply(t)
		if result.code != 200 || !reply.OK || reply.Action != c.action {
			t.Fatalf("%s: %d %s", c.path, result.code, result.body)
		}
		events := fake.eventList()
		if want := []string{"audit:" + c.action, c.event}; !reflect.DeepEqual(events[2*i:], want) {
			t.Errorf("%s: events %v, want %v last", c.path, events, want)
		}
		record := fake.auditRecords()[i]
		if record.Who != "bob" || record.Action != c.action ||
			!strings.HasPrefix(record.RemoteAddress, "127.0.0.1:") ||
			record.TimeUnixNs < before || record.TimeUnixNs > time.Now().UnixNano() {
			t.Errorf("%s: audit record %+v", c.path, record)
		}
		if c.action == ActionLogLevel && (record.Detail != "level=warn" || reply.Level != "warn") {
			t.Errorf("log-level: detail %q, reply %+v", record.Detail, reply)
		}
		if c.action == ActionPromote && reply.Epoch != 7 {
			t.Errorf("promote: epoch %d", reply.Epoch)
		}
	}
}

// TestAdminNoTokens: without Config.Tokens every admin request is refused (401 without a
// token, 403 with one), so a node wired without admin tokens has no admin API.
func TestAdminNoTokens(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	if result := post(t, server, PathPromote, testTokens["alice"]); result.code != 403 {
		t.Errorf("with a token: %d %s", result.code, result.body)
	}
	if result := post(t, server, PathPromote, ""); result.code != 401 {
		t.Errorf("without: %d %s", result.code, result.body)
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("events %v", events)
	}
}

// TestAdminAuditFailure makes the audit fail: every action answers 503 audit_failed with
// the audit's error, and no action runs (fail closed).
func TestAdminAuditFailure(t *testing.T) {
	fake := newFakeSources()
	fake.auditErr = fmt.Errorf("log closed: %w", errTest)
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	for _, c := range adminCases {
		result := call(t, nil, http.MethodPost, "http://"+server.Address()+c.path+c.query,
			testTokens["alice"], nil, nil)
		reply := result.reply(t)
		if result.code != 503 || reply.Code != CodeAuditFailed || reply.OK ||
			!strings.Contains(reply.Error, "log closed") {
			t.Errorf("%s: %d %s", c.path, result.code, result.body)
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("actions ran without an audit record: %v", events)
	}
}

// TestAdminActionErrors: an action error wrapping ErrRefused answers 409 refused, any
// other 500 action_failed, both with the message and after the audit record; an action
// the wiring does not provide answers 501 and writes no audit record.
func TestAdminActionErrors(t *testing.T) {
	fake := newFakeSources()
	fake.errs[ActionPromote] = fmt.Errorf("already primary: %w", ErrRefused)
	fake.errs[ActionSnapshot] = errTest
	sources := fake.sources()
	sources.ReloadKeys = nil
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	cases := []struct {
		path  string
		code  int
		reply string
	}{
		{PathPromote, 409, CodeRefused},
		{PathSnapshot, 500, CodeActionFailed},
		{PathReloadKeys, 501, CodeNotImplemented},
	}
	for _, c := range cases {
		result := post(t, server, c.path, testTokens["alice"])
		if reply := result.reply(t); result.code != c.code || reply.Code != c.reply ||
			reply.Error == "" || reply.Epoch != 0 {
			t.Errorf("%s: %d %s", c.path, result.code, result.body)
		}
	}
	want := []string{"audit:promote", "promote", "audit:snapshot", "snapshot"}
	if events := fake.eventList(); !reflect.DeepEqual(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

// TestLogLevelArguments feeds /v1/admin/log-level good and bad arguments: the level in
// the query or in an exact JSON body, never both, nothing else. Bad ones answer 400 and
// are audited no more than they are acted on.
func TestLogLevelArguments(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	jsonType := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		query, body string
		header      map[string]string
		want        string // Level set; "": 400.
	}{
		{"?level=debug", "", nil, "debug"},
		{"", `{"level":"error"}`, jsonType, "error"},
		{"", " {\"level\" : \"info\"}\n", map[string]string{
			"Content-Type": "application/json; charset=utf-8"}, "info"},
		{"", "", nil, ""},
		{"?level=DEBUG", "", nil, ""},
		{"?level=trace", "", nil, ""},
		{"?level=", "", nil, ""},
		{"?level", "", nil, ""},
		{"?level=info&level=warn", "", nil, ""},
		{"?level=info&verbose=1", "", nil, ""},
		{"?level=info", `{"level":"info"}`, jsonType, ""},
		{"", `{"level":"info"}`, nil, ""},
		{"", `level=info`, map[string]string{
			"Content-Type": "application/x-www-form-urlencoded"}, ""},
		{"", `{"level":"info","level":"error"}`, jsonType, ""},
		{"", `{"level":"info","x":1}`, jsonType, ""},
		{"", `{"level":1}`, jsonType, ""},
		{"", `{"level":"info"}{}`, jsonType, ""},
		{"", `{"level":"info"`, jsonType, ""},
		{"", `["info"]`, jsonType, ""},
		{"", `null`, jsonType, ""},
	}
	for _, c := range cases {
		result := call(t, nil, http.MethodPost, "http://"+server.Address()+PathLogLevel+c.query,
			testTokens["alice"], []byte(c.body), c.header)
		reply := result.reply(t)
		if c.want == "" {
			if result.code != 400 || reply.Code != CodeBadRequest || reply.Error == "" {
				t.Errorf("%q %q: %d %s, want 400", c.query, c.body, result.code, result.body)
			}
			continue
		}
		if result.code != 200 || reply.Level != c.want {
			t.Errorf("%q %q: %d %s, want level %s", c.query, c.body, result.code, result.body,
				c.want)
		}
	}
	want := []string{"audit:log-level", "log-level:debug", "audit:log-level", "log-level:error",
		"audit:log-level", "log-level:info"}
	if events := fake.eventList(); !reflect.DeepEqual(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

// TestAdminNoArguments: the other actions take no query and an empty body or {};
// anything else answers 400 before the audit.
func TestAdminNoArguments(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	jsonType := map[string]string{"Content-Type": "application/json"}
	base := "http://" + server.Address() + PathSnapshot
	for _, c := range []struct {
		url, body string
		header    map[string]string
		code      int
	}{
		{base, "{}", jsonType, 200},
		{base + "?force=1", "", nil, 400},
		{base, `{"force":true}`, jsonType, 400},
		{base, `{}`, nil, 400},
	} {
		result := call(t, nil, http.MethodPost, c.url, testTokens["alice"], []byte(c.body),
			c.header)
		if result.code != c.code {
			t.Errorf("%s %q: %d %s, want %d", c.url, c.body, result.code, result.body, c.code)
		}
	}
	// A body over the bound is refused from its announced length, before it is read.
	// Over a raw connection that sends only the headers: an HTTP client writing the
	// body races the server's close after the 413 (connection reset while writing).
	if code := announceOversizedBody(t, server.Address(), PathSnapshot); code != "413" {
		t.Errorf("a body of %d bytes announced: status %s, want 413", requestBodyBytesMax+1,
			code)
	}
	if events := fake.eventList(); !reflect.DeepEqual(events, []string{"audit:snapshot",
		"snapshot"}) {
		t.Errorf("events %v", events)
	}
}

// TestAdminBusyAndTimeout blocks an action: its request answers 504 once the (shortened)
// wait is over, a second action meanwhile answers 409 busy without being audited, and once
// the first action ends the next one runs. Nothing here depends on timing except the
// shortened wait, which only has to pass while the action is blocked on a channel.
func TestAdminBusyAndTimeout(t *testing.T) {
	fake := newFakeSources()
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	sources := fake.sources()
	sources.SnapshotNow = func() error {
		entered <- struct{}{}
		<-release
		return nil
	}
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, sources)
	server.timeout.Store(int64(50 * time.Millisecond))
	result := post(t, server, PathSnapshot, testTokens["alice"])
	if reply := result.reply(t); result.code != 504 || reply.Code != CodeTimeout {
		t.Fatalf("blocked action: %d %s", result.code, result.body)
	}
	<-entered
	result = post(t, server, PathPromote, testTokens["alice"])
	if reply := result.reply(t); result.code != 409 || reply.Code != CodeBusy {
		t.Fatalf("second action: %d %s", result.code, result.body)
	}
	close(release)
	server.timeout.Store(int64(actionTimeout))
	deadline := time.Now().Add(waitMax)
	for {
		result = post(t, server, PathPromote, testTokens["alice"])
		if result.code != 409 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if result.code != 200 {
		t.Fatalf("after release: %d %s", result.code, result.body)
	}
	want := []string{"audit:snapshot", "audit:promote", "promote"}
	if events := fake.eventList(); !reflect.DeepEqual(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

// TestMethodsAndPaths: reads refuse POST and admin endpoints refuse GET (405 with Allow);
// an unknown path is 404; none reaches a source.
func TestMethodsAndPaths(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	base := "http://" + server.Address()
	for _, c := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{http.MethodPost, PathMetrics, 405, allowRead},
		{http.MethodDelete, PathStatus, 405, allowRead},
		{http.MethodGet, PathPromote, 405, allowAdmin},
		{http.MethodGet, "/v1/admin/", 404, ""},
		{http.MethodGet, "/v1/status/", 404, ""},
		{http.MethodPost, "/v1/admin/shutdown", 404, ""},
	} {
		result := call(t, nil, c.method, base+c.path, testTokens["alice"], nil, nil)
		if result.code != c.code || result.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d allow %q", c.method, c.path, result.code,
				result.header.Get("Allow"))
		}
	}
	if events := fake.eventList(); len(events) != 0 {
		t.Errorf("events %v", events)
	}
}

// announceOversizedBody sends the headers of a POST to path announcing a JSON body one
// byte over requestBodyBytesMax, sends no body, and returns the status code answered.
func announceOversizedBody(t *testing.T, address, path string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, waitMax)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	request := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: ops\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path,
		testTokens["alice"], requestBodyBytesMax+1)
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n') // HTTP/1.1 413 ...
	if err != nil {
		t.Fatalf("reading the status line: %v", err)
	}
	fields := strings.Fields(status)
	if len(fields) < 2 {
		t.Fatalf("status line %q", status)
	}
	return fields[1]
}
