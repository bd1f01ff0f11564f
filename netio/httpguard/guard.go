package httpguard

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// pathBytesMax bounds the path a panic's log line carries: enough to tell the route,
// not enough for a client to fill the log with one request.
const pathBytesMax = 128

// panicValueBytesMax bounds the panic's value in that line: a value built from the
// request (an error quoting the input) would otherwise carry as much of it as it holds.
const panicValueBytesMax = 256

// Guard recovers the panics of one HTTP server's handlers. Create it with New; its
// methods are safe from any goroutine.
type Guard struct {
	server string       // The server's name ("api", "ops"): the log's and the metric's label.
	logger *slog.Logger // Never nil.
	// answer writes the server's 500 in its own error shape, on a reset response.
	answer func(*fasthttp.RequestCtx)
	panics atomic.Uint64 // Panics recovered since New.
}

// New returns the guard of the server named server (the metric's label value). answer
// writes that server's 500 error body; it must not panic.
func New(server string, logger *slog.Logger, answer func(*fasthttp.RequestCtx)) *Guard {
	if logger == nil {
		logger = slog.Default()
	}
	return &Guard{server: server, logger: logger, answer: answer}
}

// Panics returns the panics recovered since New.
func (g *Guard) Panics() uint64 { return g.panics.Load() }

// Recover must be deferred directly by the handler (defer guard.Recover(ctx)): recover
// only stops a panic when the deferred function itself calls it. Deferred first, it runs
// after the handler's other deferred calls, which release what the request held (body
// bytes, the in-flight slot). A panic it recovers answers 500 with the connection
// closed, since what was read of the request is unknown; a Fatal one goes on.
func (g *Guard) Recover(ctx *fasthttp.RequestCtx) {
	value := recover()
	if value == nil {
		return
	}
	if fatal, ok := value.(Fatal); ok {
		panic(fatal) // From the sequencer's side: see the package doc.
	}
	g.panics.Add(1)
	path := ctx.Path()
	if len(path) > pathBytesMax {
		path = path[:pathBytesMax]
	}
	text := fmt.Sprint(value)
	if len(text) > panicValueBytesMax {
		text = text[:panicValueBytesMax] + "…"
	}
	g.logger.Error(g.server+": handler panicked; answered 500", "server", g.server,
		"panic", text, "method", string(ctx.Method()), "path", string(path),
		"stack", string(debug.Stack()))
	ctx.Response.Reset() // Drop whatever the handler had set: status, headers, body.
	ctx.SetConnectionClose()
	g.answer(ctx)
}

// Fatal carries a panic that must end the process even under a Guard (see Escalate).
type Fatal struct {
	Value any // What the original panic carried.
}

// String lets the runtime's crash message show the original value.
func (f Fatal) String() string { return fmt.Sprintf("httpguard: fatal: %v", f.Value) }

// Unguarded runs call, a call into the sequencer's side (a backend's Submit, a read
// through the shard's ring), so that a panic out of it ends the process even under a
// Guard.
func Unguarded(call func()) {
	defer Escalate()
	call()
}

// Escalate, deferred directly, re-raises a panic as Fatal, so that Guard.Recover lets it
// end the process. The stack the runtime prints still holds the original panic's
// frames: they are not unwound before the crash.
func Escalate() {
	if value := recover(); value != nil {
		if _, ok := value.(Fatal); ok {
			panic(value)
		}
		panic(Fatal{Value: value})
	}
}
