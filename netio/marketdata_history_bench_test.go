package netio

import (
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkMarketDataHistoryAdd: the publisher's cost to keep one update in a full
// history of the default size (every add evicts one), with updates spread over 1,024
// instruments, in cpu-ns/update (the benchmark thread's CPU clock: on the shared machine
// it leaves out the time other processes held the core).
func BenchmarkMarketDataHistoryAdd(b *testing.B) {
	const instruments = 1024
	var h marketDataHistory
	h.init(MarketDataHistoryUpdatesMaxDefault, 1, marketDataInstrumentsLeftMax)
	updates := make([]model.MarketDataUpdate, 4096)
	op := uint64(0)
	add := func() {
		op++
		u := &updates[op%uint64(len(updates))]
		u.Instrument, u.Op = uint32(op*7919%instruments)+1, op
		h.add(u)
	}
	for range 2 * MarketDataHistoryUpdatesMaxDefault { // Full, and every instrument has left.
		add()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	for range b.N {
		add()
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/update")
	}
}
