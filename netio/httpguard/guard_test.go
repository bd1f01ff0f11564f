package httpguard

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	secretBody      = "body-secret-7f3a"
	secretSignature = "signature-secret-91c2"
)

// newRequest returns a request context carrying a body and a signature header that no
// log line may show.
func newRequest(path string) *fasthttp.RequestCtx {
	var request fasthttp.Request
	request.Header.SetMethod(fasthttp.MethodPost)
	request.SetRequestURI(path + "?token=query-secret")
	request.Header.Set("Sequent-Signature", secretSignature)
	request.SetBodyString(`{"id":"` + secretBody + `"}`)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	return ctx
}

func newGuard(log *bytes.Buffer) *Guard {
	logger := slog.New(slog.NewTextHandler(log, nil))
	return New("api", logger, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		ctx.SetBodyString(`{"error":"internal"}`)
	})
}

// serve runs handler under guard as a server's entry does, and returns the panic that
// got past the guard, if any.
func serve(guard *Guard, ctx *fasthttp.RequestCtx, handler func(*fasthttp.RequestCtx)) (
	escaped any) {
	defer func() { escaped = recover() }()
	func() {
		defer guard.Recover(ctx)
		handler(ctx)
	}()
	return nil
}

// TestRecoverAnswers500: a handler that set a status, a header and part of a body and
// then panicked is answered with the server's 500 alone (nothing it had set survives),
// the connection is closed, the panic is counted, and one Error line names the panic,
// the method, the path (without its query) and the stack, but neither the body nor the
// headers nor the query.
func TestRecoverAnswers500(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	ctx := newRequest("/v1/accounts")
	escaped := serve(guard, ctx, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.Response.Header.Set("Idempotency-Replayed", "true")
		ctx.SetBodyString("partial answer")
		var results []int
		_ = results[3] // An index out of range, as a decoder trusting a length would do.
	})
	if escaped != nil {
		t.Fatalf("panic escaped the guard: %v", escaped)
	}
	if code := ctx.Response.StatusCode(); code != fasthttp.StatusInternalServerError {
		t.Errorf("status %d, want 500", code)
	}
	if body := string(ctx.Response.Body()); body != `{"error":"internal"}` {
		t.Errorf("body %q, want the server's error alone", body)
	}
	if value := ctx.Response.Header.Peek("Idempotency-Replayed"); value != nil {
		t.Errorf("the handler's header survived: %q", value)
	}
	if !ctx.Response.ConnectionClose() {
		t.Error("connection left open after a panic")
	}
	if panics := guard.Panics(); panics != 1 {
		t.Errorf("Panics() = %d, want 1", panics)
	}
	line := log.String()
	for _, want := range []string{"level=ERROR", "server=api", "index out of range",
		"method=POST", "path=/v1/accounts ", "guard_test.go"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	for _, secret := range []string{secretBody, secretSignature, "query-secret"} {
		if strings.Contains(line, secret) {
			t.Errorf("log line shows %q: %s", secret, line)
		}
	}
}

// TestRecoverWithoutPanic: a handler that returns normally keeps its answer and counts
// nothing.
func TestRecoverWithoutPanic(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	ctx := newRequest("/v1/time")
	serve(guard, ctx, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetBodyString("done")
	})
	if ctx.Response.StatusCode() != fasthttp.StatusCreated || string(ctx.Response.Body()) != "done" ||
		guard.Panics() != 0 || log.Len() != 0 {
		t.Fatalf("answer %d %q, %d panics, log %q", ctx.Response.StatusCode(),
			ctx.Response.Body(), guard.Panics(), log.String())
	}
}

// TestUnguardedPanicEndsTheProcess: a panic out of a call made through Unguarded (the
// sequencer's side) goes past the guard as Fatal carrying the original value, with no
// 500 written and nothing counted, so that fasthttp's goroutine, which does not recover,
// ends the process.
func TestUnguardedPanicEndsTheProcess(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	ctx := newRequest("/v1/transfers")
	escaped := serve(guard, ctx, func(*fasthttp.RequestCtx) {
		Unguarded(func() { panic("ring corrupt") })
	})
	fatal, ok := escaped.(Fatal)
	if !ok || fatal.Value != "ring corrupt" {
		t.Fatalf("escaped %#v, want Fatal{ring corrupt}", escaped)
	}
	if !strings.Contains(fatal.String(), "ring corrupt") {
		t.Errorf("crash message %q hides the value", fatal.String())
	}
	if guard.Panics() != 0 || ctx.Response.StatusCode() == fasthttp.StatusInternalServerError {
		t.Errorf("a fatal panic was answered or counted: %d panics, status %d",
			guard.Panics(), ctx.Response.StatusCode())
	}
	// Nested: a Fatal passing through a second Unguarded stays one Fatal.
	escaped = serve(guard, ctx, func(*fasthttp.RequestCtx) {
		Unguarded(func() { Unguarded(func() { panic("inner") }) })
	})
	if fatal, ok := escaped.(Fatal); !ok || fatal.Value != "inner" {
		t.Fatalf("nested: escaped %#v, want Fatal{inner}", escaped)
	}
}

// TestRecoverLogsABoundedPath: a long path is logged cut at pathBytesMax bytes.
func TestRecoverLogsABoundedPath(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	long := "/" + strings.Repeat("a", 3*pathBytesMax)
	serve(guard, newRequest(long), func(*fasthttp.RequestCtx) { panic("boom") })
	if want := "path=" + long[:pathBytesMax] + " "; !strings.Contains(log.String(), want) {
		t.Fatalf("log %q lacks the path cut at %d bytes", log.String(), pathBytesMax)
	}
}

// TestRecoverLogsABoundedPanicValue: a panic whose value quotes the request (here a
// long one) is logged cut to panicValueBytesMax bytes.
func TestRecoverLogsABoundedPanicValue(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	value := strings.Repeat("v", 10*panicValueBytesMax)
	serve(guard, newRequest("/v1/transfers"), func(*fasthttp.RequestCtx) { panic(value) })
	if strings.Contains(log.String(), value[:panicValueBytesMax+1]) ||
		!strings.Contains(log.String(), value[:panicValueBytesMax]) {
		t.Fatalf("log %q does not carry the panic's value cut at %d bytes", log.String(),
			panicValueBytesMax)
	}
}

// manualClock is a clock a test moves by hand.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// logLines counts the lines of log holding every one of words.
func logLines(log *bytes.Buffer, words ...string) int {
	count := 0
	for line := range strings.Lines(log.String()) {
		all := true
		for _, word := range words {
			all = all && strings.Contains(line, word)
		}
		if all {
			count++
		}
	}
	return count
}

// TestRecoverBoundsThePanicLog: within one panicLogInterval only the first
// panicStacksPerIntervalMax panics are logged with their stack; the next one says once
// that the rest of the interval is not logged, and the later ones log nothing; every
// one is answered 500 and counted. Once the interval has passed (by the guard's clock,
// not by waiting), the next panic is logged again with its stack, after one line giving
// the number that went unlogged; an instant before it has passed, nothing is logged.
func TestRecoverBoundsThePanicLog(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	clock := &manualClock{now: time.Unix(1_000_000, 0)}
	guard.now = clock.Now
	const over = 7
	panicOnce := func() {
		ctx := newRequest("/v1/accounts")
		serve(guard, ctx, func(*fasthttp.RequestCtx) { panic("boom") })
		if ctx.Response.StatusCode() != fasthttp.StatusInternalServerError {
			t.Fatalf("a panic answered %d, want 500", ctx.Response.StatusCode())
		}
	}
	for range panicStacksPerIntervalMax + over {
		panicOnce()
	}
	if panics := guard.Panics(); panics != panicStacksPerIntervalMax+over {
		t.Errorf("Panics() = %d, want every panic counted: %d", panics,
			panicStacksPerIntervalMax+over)
	}
	if stacks := logLines(&log, "stack="); stacks != panicStacksPerIntervalMax {
		t.Errorf("%d stacks logged in one interval, want %d", stacks, panicStacksPerIntervalMax)
	}
	if notices := logLines(&log, "further panics in this interval"); notices != 1 {
		t.Errorf("%d lines saying the rest is not logged, want 1:\n%s", notices, log.String())
	}
	if lines := logLines(&log); lines != panicStacksPerIntervalMax+1 {
		t.Errorf("%d log lines, want %d:\n%s", lines, panicStacksPerIntervalMax+1, log.String())
	}

	log.Reset()
	clock.now = clock.now.Add(panicLogInterval - time.Nanosecond) // Same interval still.
	panicOnce()
	if log.Len() != 0 {
		t.Errorf("a panic over the limit was logged before the interval ended: %s", log.String())
	}

	clock.now = clock.now.Add(time.Nanosecond)
	panicOnce()
	if summaries := logLines(&log, "panics not logged",
		"panics_unlogged="+strconv.Itoa(over+1)); summaries != 1 {
		t.Errorf("want one line giving the %d panics not logged:\n%s", over+1, log.String())
	}
	if stacks := logLines(&log, "stack="); stacks != 1 {
		t.Errorf("%d stacks logged in the next interval's first panic, want 1:\n%s", stacks,
			log.String())
	}
	if panics := guard.Panics(); panics != panicStacksPerIntervalMax+over+2 {
		t.Errorf("Panics() = %d, want %d", panics, panicStacksPerIntervalMax+over+2)
	}
}

// TestRecoverLogsThePathAsSent: the panic's log line gives the path as sent, the one both
// servers route by (netio/httppath), not fasthttp's normalized path, which decoded and
// resolved "/v1/accounts/%31/../x%2Fy" into "/v1/accounts/x/y", a path the request did
// not name.
func TestRecoverLogsThePathAsSent(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	const sent = "/v1/accounts/%31/../x%2Fy"
	serve(guard, newRequest(sent), func(*fasthttp.RequestCtx) { panic("boom") })
	if want := "path=" + sent + " "; !strings.Contains(log.String(), want) {
		t.Fatalf("log %q lacks %q", log.String(), want)
	}
}
