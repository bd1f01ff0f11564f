package match

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkWindow measures the idempotency window alone on BenchmarkMatching's key
// pattern: 1,000 trading accounts, each numbering its commands consecutively, a random
// account per command, every key new (find misses, remember forgets the oldest of a full
// 1 Mi-entry window). One op is one command's find and remember.
//
//	go test ./core/match -run '^$' -bench 'BenchmarkWindow$' -benchtime 10000000x -count 3
func BenchmarkWindow(b *testing.B) {
	const accounts = 1000
	var w clientOrderWindow
	w.init(ClientOrderIDsMaxDefault, ClientOrderIDsMaxDefault, 2^0x27d4eb2f165667c5)
	keys := make([]uint64, accounts+1)
	random := rand.New(rand.NewPCG(1, 2))
	traders := make([]uint32, ClientOrderIDsMaxDefault+b.N)
	for i := range traders {
		traders[i] = uint32(1 + random.IntN(accounts))
	}
	command := func(i int) {
		trader := traders[i]
		keys[trader]++
		client, key := uint64(trader), keys[trader]
		if _, found := w.find(client, 1, key); found {
			b.Fatal("a new key was found")
		}
		w.remember(windowEntry{client: client, account: 1, clientOrderID: key,
			orderID: uint64(i), timestamp: uint64(i), digest: key, status: model.StatusOK,
			kind: commandPlace})
	}
	for i := range ClientOrderIDsMaxDefault { // Fill the window: every later key forgets one.
		command(i)
	}
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	for i := range b.N {
		command(ClientOrderIDsMaxDefault + i)
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/command")
	}
}
