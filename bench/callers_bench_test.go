package bench

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// BenchmarkCallerBookkeeping measures what a caller of the callers mode (`sequent bench
// --callers 512 --events 1 --connections 1`) spends per call around the call itself:
// sendDue's clock and checks, take (draw, build the transfer), the re-encoding of its
// result and the settle into its recorder, one of the few its connection's 512 callers
// share as in a run (recordersOf). The call answers at once (ok), so what is measured is
// the generator's share of the process's CPU per call, without the client and the server.
// cpu-ns/call is the process's CPU time (getrusage: both cores, every goroutine) per
// call; the callers run on every P, so the shared recorders' locks and the expected
// balances move between cores as they do in a run.
func BenchmarkCallerBookkeeping(b *testing.B) {
	benchmarkCallerBookkeeping(b, false)
}

// BenchmarkCallerBookkeepingYielding is BenchmarkCallerBookkeeping with each call
// yielding its processor before it answers (runtime.Gosched), so that the other callers
// run between a caller's two calls, as in a run, where a merged request's hundreds of
// callers are parked while it is on its way: what a caller's state costs when it comes
// back to it cold (bench/PERFORMANCE.md, issue 15, session 53), which the benchmark
// above, whose callers keep running, does not show. Count its misses with
// `valgrind --tool=cachegrind --cache-sim=yes` on the test binary.
func BenchmarkCallerBookkeepingYielding(b *testing.B) {
	benchmarkCallerBookkeeping(b, true)
}

func benchmarkCallerBookkeeping(b *testing.B, yielding bool) {
	const callers = 512
	config := Config{Addresses: []string{"x"}, Events: 1, Callers: callers,
		Count: uint64(b.N)}.WithDefaults()
	r := newRun(config)
	recorders := make([]*recorder, recordersOf(1, callers))
	for i := range recorders {
		recorders[i] = &recorder{interval: newSample()}
	}
	answer := func(_ context.Context, transfers []model.Transfer,
		results []model.EventResult) error {
		if yielding {
			runtime.Gosched()
		}
		for i := range results {
			results[i] = model.EventResult{Timestamp: transfers[i].ID.Lo, Status: model.StatusOK}
		}
		return nil
	}
	workers := make([]*worker, callers)
	for i := range workers {
		workers[i] = newWorker(i, r, nil, recorders[i%len(recorders)])
		workers[i].createTransfersInto = answer
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	r.start = time.Now()
	cpuStart := processCPUNanoseconds()
	var group sync.WaitGroup
	for _, w := range workers {
		group.Go(func() {
			w.sendDue(ctx)
			w.flushAccounted()
		})
	}
	group.Wait()
	cpu := processCPUNanoseconds() - cpuStart
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
	total := newSample()
	for _, rec := range recorders {
		total.merge(rec.interval)
	}
	if sent, done := total.requestsSent, total.requestsCompleted; sent != uint64(b.N) ||
		done != uint64(b.N) {
		b.Fatalf("%d calls sent, %d completed, want %d", sent, done, b.N)
	}
	if got := r.expected.transfers.Load(); got != uint64(b.N) {
		b.Fatalf("%d transfers accounted, want %d", got, b.N)
	}
}
