//go:build linux

package shard

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"sequent/bench/threadcpu"
	"sequent/core/ledger"
	"sequent/core/model"
)

// BenchmarkSequencerGrowth measures what growing past the default capacity costs the
// sequencer's own thread, with the shard's populater (populater=on) and without it
// (populater=off): a ledger sized as `sequent serve` sizes it (10,000 accounts, 2,097,152
// transfers, reserved and faulted in at start), filled to that capacity untimed, then
// grown by batches of 8,189 transfers to three times it (64 chunks of each transfer
// array, the transfer table doubling twice). The goroutine playing the sequencer is locked
// to its thread, so that thread's counters are its alone: cpu-ns/transfer (its CPU time),
// faults/ktransfer (its minor page faults: a populater's faults are on its own thread),
// and batch-p99-ms and batch-max-ms (wall time per batch, which also shows the populater
// competing for a core). b.N is ignored beyond 1.
//
// Fresh memory matters here: a second ledger in the same process reuses the heap of the
// first, which the runtime zeroes (and so faults in) at allocation. Compare the two in
// separate processes, alternated:
//
//	for i in 1 2 3 4; do for p in off on; do go test ./core/shard -run '^$' \
//	  -bench "SequencerGrowth/populater=$p" -benchtime 1x; done; done
func BenchmarkSequencerGrowth(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "populater=off"
		if on {
			name = "populater=on"
		}
		b.Run(name, func(b *testing.B) { benchmarkSequencerGrowth(b, on) })
	}
}

func benchmarkSequencerGrowth(b *testing.B, populate bool) {
	const accountCount, capacity = 10_000, 1 << 21
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range b.N {
		l := ledger.New(ledger.Config{AccountsCapacity: accountCount,
			TransfersCapacity: capacity, HashSeed: 1})
		if populate {
			p := newPopulater()
			p.start()
			l.SetPopulater(p)
			defer p.stopAndWait()
			defer l.SetPopulater(nil)
		}
		accounts := make([]model.Account, 0, model.EventsPerRequestMax)
		results := make([]model.EventResult, model.EventsPerRequestMax)
		for id := uint64(1); id <= accountCount; id++ {
			accounts = append(accounts, model.Account{ID: model.U128(id), Ledger: 1, Code: 1})
			if len(accounts) == cap(accounts) || id == accountCount {
				l.CreateAccounts(id, accounts, results)
				accounts = accounts[:0]
			}
		}
		batch := make([]model.Transfer, model.EventsPerRequestMax)
		transferResults := make([]model.TransferResult, len(batch))
		random := rand.New(rand.NewPCG(1, 2))
		timestamp, nextID := uint64(1<<20), uint64(1)
		apply := func() time.Duration {
			for i := range batch {
				debit := random.Uint64N(accountCount) + 1
				batch[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
					CreditAccountID: model.U128(debit%accountCount + 1), Amount: model.U128(1),
					Ledger: 1, Code: 1}
				nextID++
			}
			started := time.Now()
			l.CreateTransfers(timestamp, batch, transferResults)
			elapsed := time.Since(started)
			if transferResults[0].Status != model.StatusOK {
				b.Fatalf("transfer %d: %s", nextID, transferResults[0].Status)
			}
			timestamp += uint64(len(batch))
			return elapsed
		}
		for nextID+uint64(len(batch)) <= capacity {
			apply()
		}
		grownFrom := nextID
		cpuStart, faultsStart := threadcpu.Now(), threadFaults(b)
		durations := make([]time.Duration, 0, 2*capacity/len(batch)+1)
		for nextID < 3*capacity {
			durations = append(durations, apply())
		}
		transfers := float64(nextID - grownFrom)
		b.ReportMetric(float64(threadcpu.Now()-cpuStart)/transfers, "cpu-ns/transfer")
		b.ReportMetric(float64(threadFaults(b)-faultsStart)/transfers*1000, "faults/ktransfer")
		slices.Sort(durations)
		b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000,
			"batch-p99-ms")
		b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "batch-max-ms")
	}
}

// threadFaults returns the calling thread's minor page faults so far.
func threadFaults(b *testing.B) int64 {
	const rusageThread = 1 // RUSAGE_THREAD from <sys/resource.h>.
	var usage syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &usage); err != nil {
		b.Fatal(err)
	}
	return int64(usage.Minflt) // int32 on 32-bit Linux
}
