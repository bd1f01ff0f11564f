package ledger

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// benchmarkAlternatedLedgers has two ledgers of benchAccountCount accounts (ids
// 1..benchAccountCount), alike but for what adjust(i, ledger i) sets before their
// accounts are created, apply the same batches of model.EventsPerRequestMax transfers
// between random accounts, alternating which goes first every op, each batch timed by
// the thread's CPU clock: both halves see the same noise from the rest of the machine.
// It reports cpu-ns per transfer of ledger 0 as first and of ledger 1 as second, and
// 100*(ledger 0's time / ledger 1's - 1) as change (negative: ledger 0 is faster).
func benchmarkAlternatedLedgers(b *testing.B, adjust func(i int, l *Ledger), first, second,
	change string) {
	benchmarkAlternatedLedgersOf(b, benchAccountCount, adjust, first, second, change)
}

// benchmarkAlternatedLedgersOf is benchmarkAlternatedLedgers with accountCount accounts.
func benchmarkAlternatedLedgersOf(b *testing.B, accountCount uint32,
	adjust func(i int, l *Ledger), first, second, change string) {
	transferCapacity := uint32(max(b.N, 1) * model.EventsPerRequestMax)
	ledgers := [2]*Ledger{}
	timestamps := [2]uint64{}
	for i := range ledgers {
		ledgers[i] = New(Config{AccountsCapacity: accountCount,
			TransfersCapacity: transferCapacity, HashSeed: 42})
		adjust(i, ledgers[i])
		timestamps[i] = createBenchAccounts(b, ledgers[i], accountCount, 0)
	}
	random := rand.New(rand.NewPCG(1, 2))
	batch := make([]model.Transfer, model.EventsPerRequestMax)
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	nextID := uint64(1)
	var spent [2]int64
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range batch {
			debit := random.Uint64N(uint64(accountCount)) + 1
			credit := random.Uint64N(uint64(accountCount)-1) + 1
			if credit >= debit {
				credit++
			}
			batch[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1), Ledger: 1, Code: 1}
			nextID++
		}
		for k := range 2 {
			which := (n + k) % 2
			start := threadcpu.Now()
			ledgers[which].CreateTransfers(timestamps[which], batch, results)
			spent[which] += threadcpu.Now() - start
			timestamps[which] += uint64(len(batch))
			if results[0].Status != model.StatusOK {
				b.Fatalf("transfer: %s", results[0].Status)
			}
		}
	}
	b.StopTimer()
	if !threadcpu.Supported {
		return
	}
	transfers := float64(b.N) * model.EventsPerRequestMax
	b.ReportMetric(float64(spent[0])/transfers, first)
	b.ReportMetric(float64(spent[1])/transfers, second)
	b.ReportMetric(100*(float64(spent[0])/float64(spent[1])-1), change)
}
