package ledger

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkRecordLinePrefetch compares, in one process, the pipeline prefetching the
// first line of each account record (prefetchRecords, what the ledger does) with it
// prefetching both lines (bothRecordLinesPrefetched, what it did before): two ledgers of
// 1,000,000 accounts (ids 1..1,000,000, no pending balances, so a plain transfer reads
// first lines only), differing only in that, apply the same batches of 8,189 transfers
// between random accounts, alternating which goes first every op, each batch timed by
// the thread's CPU clock, as BenchmarkAccountTableHash does. It reports cpu-ns per
// transfer of each and first-line-change-% (negative: first lines only is faster).
//
//	go test ./core/ledger -run '^$' -bench RecordLinePrefetch -benchtime 300x -count 5
func BenchmarkRecordLinePrefetch(b *testing.B) {
	transferCapacity := uint32(max(b.N, 1) * model.EventsPerRequestMax)
	ledgers := [2]*Ledger{} // 0: first lines (the ledger's), 1: both lines.
	timestamps := [2]uint64{}
	for i := range ledgers {
		ledgers[i] = New(Config{AccountsCapacity: benchAccountCount,
			TransfersCapacity: transferCapacity, HashSeed: 42})
		ledgers[i].bothRecordLinesPrefetched = i == 1
		timestamps[i] = createBenchAccounts(b, ledgers[i], benchAccountCount, 0)
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
			debit := random.Uint64N(benchAccountCount) + 1
			credit := random.Uint64N(benchAccountCount-1) + 1
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
	b.ReportMetric(float64(spent[0])/transfers, "cpu-ns/transfer-first-line")
	b.ReportMetric(float64(spent[1])/transfers, "cpu-ns/transfer-both-lines")
	b.ReportMetric(100*(float64(spent[0])/float64(spent[1])-1), "first-line-change-%")
}
