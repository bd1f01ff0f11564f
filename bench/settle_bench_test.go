package bench

import (
	"runtime"
	"sync"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkSettleOneTransfer measures what the generator spends per one-transfer request
// (build and settle) with two connections' workers settling at once, one per thread, as
// `sequent bench --events 1 --connections 32` runs them on the machine's two cores: what
// the workers share (the expected balances, the run's counters) costs there in cache
// lines moving between cores, which one goroutine alone never shows. cpu-ns/request is
// the threads' own CPU time per request (each thread's requests count once).
func BenchmarkSettleOneTransfer(b *testing.B) {
	const workers = 2
	config := Config{Addresses: []string{"x"}, Events: 1, Count: 1}.WithDefaults()
	r := newRun(config)
	body := make([]byte, model.EventResultSize) // One result: ok.
	perWorker := b.N/workers + 1
	var cpu [workers]int64
	var group sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for index := range workers {
		group.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w := newWorker(index, r, nil, &recorder{interval: newSample()})
			s := &w.slots[0]
			s.kind = KindSingle
			start := threadcpu.Now()
			for range perWorker {
				w.buildSingle(s)
				w.settleTransfers(body, s, w.recorder.interval)
			}
			w.flushAccounted()
			cpu[index] = threadcpu.Now() - start
		})
	}
	group.Wait()
	b.StopTimer()
	if threadcpu.Supported {
		b.ReportMetric(float64(cpu[0]+cpu[1])/float64(workers*perWorker), "cpu-ns/request")
	}
	if got := r.expected.transfers.Load(); got != uint64(workers*perWorker) {
		b.Fatalf("%d transfers accounted, want %d", got, workers*perWorker)
	}
}
