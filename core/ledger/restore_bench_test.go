package ledger

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
)

// BenchmarkRestore measures Restore of a snapshot of 1,000,000 accounts and 2,000,000
// transfers between random accounts (restart time): most of it resolves each stored
// transfer's two account ids in tables larger than the cache (resolveTransfers). One op
// is one whole restore; cpu-ns/transfer is the thread's CPU time per stored transfer.
func BenchmarkRestore(b *testing.B) {
	const transferCount = 2_000_000
	l, timestamp := newBenchLedger(b, benchAccountCount, transferCount)
	createBenchTransfers(l, timestamp, transferCount, benchAccountCount-1,
		rand.New(rand.NewPCG(7, 8)))
	var snapshot bytes.Buffer
	view := l.Snapshot()
	if _, err := view.WriteTo(&snapshot); err != nil {
		b.Fatal(err)
	}
	view.Release()
	l = nil
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	for n := 0; n < b.N; n++ {
		restored, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if restored.transfers.count != transferCount {
			b.Fatalf("restored %d transfers, want %d", restored.transfers.count, transferCount)
		}
		restored = nil
		runtime.GC()
		b.StartTimer()
	}
	cpu := threadcpu.Now() - cpuStart
	reportThreadCPU(b, cpu, float64(b.N)*transferCount, "transfer")
}
