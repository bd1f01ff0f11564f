package httpguard

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/netio/httppath"
)

// pathBytesMax bounds the path a panic's log line carries: enough to tell the route,
// not enough for a client to fill the log with one request.
const pathBytesMax = 128

// panicValueBytesMax bounds the panic's value in that line: a value built from the
// request (an error quoting the input) would otherwise carry as much of it as it holds.
const panicValueBytesMax = 256

// panicStacksPerIntervalMax bounds the panics logged (one Error line each, with its
// stack of a few kilobytes) per panicLogInterval: a request that makes a handler panic
// can be sent at the port's rate limit (20 a second per peer, from many peers), and a
// line per panic would fill the journal and the disk it shares. Ten stacks a minute tell
// the routes and the causes; the counter (sequent_http_panics_total) still counts every
// panic, and the next logged line says how many went unlogged.
const panicStacksPerIntervalMax = 10

// panicLogInterval is the interval panicStacksPerIntervalMax applies to, wherever it
// starts.
const panicLogInterval = time.Minute

// Guard recovers the panics of one HTTP server's handlers. Create it with New; its
// methods are safe from any goroutine.
type Guard struct {
	server string       // The server's name ("api", "ops"): the log's and the metric's label.
	logger *slog.Logger // Never nil.
	// answer writes the server's 500 in its own error shape, on a reset response.
	answer func(*fasthttp.RequestCtx)
	panics atomic.Uint64 // Panics recovered since New.
	// now is the clock of the log's bound: time.Now, or a test's (set before any use).
	now func() time.Time
	// logMutex guards the log's bookkeeping below; taken only on a panic (never on the
	// path of a request that does not panic), by the worker goroutine that recovered it.
	logMutex sync.Mutex
	// stackTimes holds when the last panicStacksPerIntervalMax stacks were logged, a ring
	// whose oldest entry is at stackNext (zero while fewer were logged): a stack is
	// logged only when that oldest one is a whole panicLogInterval old, so that no
	// interval, wherever it starts, holds more of them (a window restarted when the last
	// one ended would let twice as many through across its boundary).
	stackTimes [panicStacksPerIntervalMax]time.Time
	stackNext  int
	// unlogged counts the panics not logged since the last line that said so.
	unlogged uint64
}

// New returns the guard of the server named server (the metric's label value). answer
// writes that server's 500 error body; it must not panic.
func New(server string, logger *slog.Logger, answer func(*fasthttp.RequestCtx)) *Guard {
	if logger == nil {
		logger = slog.Default()
	}
	return &Guard{server: server, logger: logger, answer: answer, now: time.Now}
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
	g.logPanic(ctx, value)
	ctx.Response.Reset() // Drop whatever the handler had set: status, headers, body.
	ctx.SetConnectionClose()
	g.answer(ctx)
}

// logPanic logs a recovered panic at Error with its stack, unless
// panicStacksPerIntervalMax panics were logged within the last panicLogInterval already:
// then it logs nothing (nor takes the stack, which costs as much as the line). The first
// panic logged after some went unlogged says how many first, in one line of its own, and
// the first one refused after a logged one says that the next are not logged, so that a
// reader of the log knows the count and where it stops.
func (g *Guard) logPanic(ctx *fasthttp.RequestCtx, value any) {
	g.logMutex.Lock()
	defer g.logMutex.Unlock()
	now := g.now()
	if oldest := g.stackTimes[g.stackNext]; !oldest.IsZero() &&
		now.Sub(oldest) < panicLogInterval {
		if g.unlogged == 0 {
			g.logger.Error(g.server+": handler panics: further panics in this interval "+
				"are answered 500 and counted (sequent_http_panics_total), not logged",
				"server", g.server, "stacks_logged_per_interval", panicStacksPerIntervalMax,
				"interval", panicLogInterval)
		}
		g.unlogged++
		return
	}
	if g.unlogged > 0 {
		g.logger.Error(g.server+": handler panics not logged (over the limit per interval)",
			"server", g.server, "panics_unlogged", g.unlogged)
		g.unlogged = 0
	}
	g.stackTimes[g.stackNext] = now
	g.stackNext = (g.stackNext + 1) % panicStacksPerIntervalMax
	// The path as sent, which both servers route by (httppath), not fasthttp's
	// normalized one (TestRecoverLogsThePathAsSent).
	path := httppath.AsSent(ctx)
	if len(path) > pathBytesMax {
		path = path[:pathBytesMax]
	}
	text := fmt.Sprint(value)
	if len(text) > panicValueBytesMax {
		text = text[:panicValueBytesMax] + "…"
	}
	g.logger.Error(g.server+": handler panicked; answered 500", "server", g.server,
		"panic", text, "method", string(ctx.Method()), "path", path,
		"stack", string(debug.Stack()))
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
