package httpguard

import (
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/valyala/fasthttp"

	"sequent/bench/threadcpu"
)

// BenchmarkGuardCost measures what the guard adds to a request that does not panic: the
// API's handler defers Recover once and calls the shard's Submit through Unguarded once.
// "bare" runs the same small handler (a status and a call through a function value, as
// Submit is) without either; the difference is the guard's cost, in the benchmark
// thread's CPU time per request (cpu-ns/request), which leaves out the time other
// processes held the core.
func BenchmarkGuardCost(b *testing.B) {
	guard := New("api", slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusInternalServerError) })
	ctx := newRequest("/v1/transfers")
	var submitted uint64
	submit := func() uint64 { submitted++; return submitted }
	bare := func(ctx *fasthttp.RequestCtx) {
		status := submit()
		ctx.SetStatusCode(200 + int(status&1))
	}
	guarded := func(ctx *fasthttp.RequestCtx) {
		defer guard.Recover(ctx)
		var status uint64
		Unguarded(func() { status = submit() })
		ctx.SetStatusCode(200 + int(status&1))
	}
	for _, c := range []struct {
		name    string
		handler func(*fasthttp.RequestCtx)
	}{{"bare", bare}, {"guarded", guarded}} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart := threadcpu.Now()
			for b.Loop() {
				c.handler(ctx)
			}
			cpu := threadcpu.Now() - cpuStart
			b.StopTimer()
			if threadcpu.Supported && cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/request")
			}
			if guard.Panics() != 0 {
				b.Fatal("a panic in a benchmark that has none")
			}
		})
	}
}
