package ledger

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"sequent/bench/threadcpu"
	"sequent/core/event"
	"sequent/core/model"
)

// benchAccountCount is the benchmark scale: one million accounts.
const benchAccountCount = 1_000_000

// newBenchLedger creates a ledger holding accountCount accounts with ids 1..accountCount
// on ledger 1, sized for transferCapacity transfers, owned by the system.
func newBenchLedger(tb testing.TB, accountCount uint32, transferCapacity uint32) (*Ledger, uint64) {
	return newOwnedBenchLedger(tb, accountCount, transferCapacity, 0)
}

// newOwnedBenchLedger is newBenchLedger with the accounts created by owner.
func newOwnedBenchLedger(tb testing.TB, accountCount uint32, transferCapacity uint32,
	owner uint64) (*Ledger, uint64) {
	tb.Helper()
	l := New(Config{AccountsCapacity: accountCount, TransfersCapacity: transferCapacity,
		HashSeed: 42})
	// The accounts have no balance limit, so that random transfers all succeed; a client
	// needs a transfer grant over them to create such accounts (withdrawn below).
	if owner != 0 {
		if err := l.SetGrants([]model.Grant{{Client: owner, Scopes: model.ScopeTransfer,
			Ledger: 1}}); err != nil {
			tb.Fatal(err)
		}
		defer func() {
			if err := l.SetGrants(nil); err != nil {
				tb.Fatal(err)
			}
		}()
	}
	return l, createBenchAccounts(tb, l, accountCount, owner)
}

// createBenchAccounts creates accountCount accounts with ids 1..accountCount on ledger 1
// in l on behalf of owner, and returns the next timestamp.
func createBenchAccounts(tb testing.TB, l *Ledger, accountCount uint32, owner uint64) uint64 {
	tb.Helper()
	timestamp := uint64(1)
	events := make([]model.Account, model.EventsPerRequestMax)
	results := make([]model.EventResult, model.EventsPerRequestMax)
	for next := uint32(0); next < accountCount; {
		count := min(uint32(len(events)), accountCount-next)
		for i := range events[:count] {
			events[i] = model.Account{ID: model.U128(uint64(next) + uint64(i) + 1), Ledger: 1,
				Code: 1}
		}
		l.CreateAccountsAs(owner, timestamp, events[:count], results)
		for i := range results[:count] {
			if results[i].Status != model.StatusOK {
				tb.Fatalf("account %d: %s", next+uint32(i), results[i].Status)
			}
		}
		timestamp += uint64(count)
		next += count
	}
	return timestamp
}

// BenchmarkCreateTransfers measures the ledger alone: batches of 8189 single-phase
// transfers between uniformly random accounts, fresh sequential ids, storage
// preallocated. One op is one batch; transfers/s is the figure to read. The scale
// is accounts=1000000; accounts=1000 keeps every account in cache, which isolates the
// compute cost from the memory cost.
//
// The third level is who sends the batch (package doc, "Ownership"): as=system skips the
// ownership checks (the system and operators), as=owner is a client debiting its own
// accounts (the owner compare on every debit and balance mask; the usual client path),
// as=grantee a client debiting another's accounts through a transfer grant (the grant
// scan, after a failed owner compare, on every event). Every variant asks for balances
// in the results, as the system path always did (so that the credit account's owner is
// read to hide its balances); a client request without the balances flag skips that.
//
// The fourth: events=on also records every transfer as an event (as the state machine
// always does, for the outbound streams); events=off measures the ledger without it, in
// the same run (BenchmarkEventsCost measures that difference more robustly).
//
// The batch=N variants send short batches instead (as the system and as the owner,
// without events), each of N transfers from the same random pool: what one-transfer
// client requests and the matching engine's chains of one to three events cost. One op
// is still one batch; cpu-ns/transfer is the figure to read.
func BenchmarkCreateTransfers(b *testing.B) {
	for _, accountCount := range []uint32{1_000, benchAccountCount} {
		for _, as := range []string{"system", "owner", "grantee"} {
			for _, events := range []bool{false, true} {
				name := fmt.Sprintf("accounts=%d/as=%s/events=%s", accountCount, as, onOff(events))
				b.Run(name, func(b *testing.B) {
					benchmarkCreateTransfers(b, accountCount, as, events, model.EventsPerRequestMax)
				})
			}
		}
		for _, batch := range benchShortBatches {
			for _, as := range []string{"system", "owner"} {
				name := fmt.Sprintf("accounts=%d/batch=%d/as=%s", accountCount, batch, as)
				b.Run(name, func(b *testing.B) {
					benchmarkCreateTransfers(b, accountCount, as, false, batch)
				})
			}
		}
	}
}

// benchShortBatches are the lengths of BenchmarkCreateTransfers's short batches.
var benchShortBatches = []int{1, 3, 8, 16}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// benchmarkCreateTransfers runs the benchmark as the given sender, with events recorded
// or not, in batches of batchLength transfers, and with the given risk rules in force
// (none: the engine is inactive).
func benchmarkCreateTransfers(b *testing.B, accountCount uint32, as string, events bool,
	batchLength int, rules ...model.RiskRule) {
	const owner, grantee = 7, 8
	client, accountOwner := uint64(0), uint64(0)
	switch as {
	case "owner":
		client, accountOwner = owner, owner
	case "grantee":
		client, accountOwner = grantee, owner
	}
	l, timestamp := newOwnedBenchLedger(b, accountCount, 1<<24, accountOwner)
	// The owner keeps the transfer grant it created its accounts under, and the grantee
	// has one: the accounts start empty and have no limit flag, so about half the debits
	// issue money, which takes the right to (SetIssuingChecked, on as package core has it
	// from rules version 6): each such debit of a client also scans its grants.
	if err := l.SetGrants([]model.Grant{
		{Client: owner, Scopes: model.ScopeTransfer, Ledger: 1},
		{Client: grantee, Scopes: model.ScopeRead, Ledger: 2},
		{Client: grantee, Scopes: model.ScopeTransfer, Ledger: 1}}); err != nil {
		b.Fatal(err)
	}
	l.SetIssuingChecked(true)
	if len(rules) != 0 {
		statuses := make([]model.Status, len(rules))
		l.Risk().Set(rules, timestamp, statuses)
		timestamp++
		for i, status := range statuses {
			if status != model.StatusOK {
				b.Fatalf("rule %d: %s", rules[i].ID, status)
			}
		}
	}
	var buffer event.Buffer
	if events {
		l.SetEvents(&buffer)
	}
	random := rand.New(rand.NewPCG(1, 2))
	const poolBatches = 16
	pool := make([][]model.Transfer, poolBatches)
	for p := range pool {
		pool[p] = make([]model.Transfer, model.EventsPerRequestMax)
		for i := range pool[p] {
			debit := random.Uint64N(uint64(accountCount)) + 1
			credit := random.Uint64N(uint64(accountCount)-1) + 1
			if credit >= debit {
				credit++
			}
			pool[p][i] = model.Transfer{DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1 + random.Uint64N(1000)),
				Ledger: 1, Code: 1}
		}
	}
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	nextID := uint64(1)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	// Short batches take consecutive slices of each pool batch in turn.
	slicesPerBatch := model.EventsPerRequestMax / batchLength
	for n := 0; n < b.N; n++ {
		slice := n % slicesPerBatch
		batch := pool[n/slicesPerBatch%poolBatches][slice*batchLength : (slice+1)*batchLength]
		for i := range batch {
			batch[i].ID = model.U128(nextID)
			nextID++
		}
		buffer.Reset()
		l.CreateTransfersAs(client, true, timestamp, batch, results)
		timestamp += uint64(len(batch))
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if events && buffer.Len() != batchLength {
		b.Fatalf("%d events for a batch of %d", buffer.Len(), batchLength)
	}
	for i := range results[:batchLength] {
		if results[i].Status != model.StatusOK {
			b.Fatalf("transfer %d: %s", i, results[i].Status)
		}
	}
	transfers := float64(b.N) * float64(batchLength)
	b.ReportMetric(transfers/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/transfers, "ns/transfer")
	reportThreadCPU(b, cpu, transfers, "transfer")
}

// reportThreadCPU reports the benchmark thread's CPU time per unit (cpu-ns/<unit>) and
// the rate it implies (cpu-<unit>s/s): on the shared machine these figures, unlike wall
// time, leave out the time other processes held the core.
func reportThreadCPU(b *testing.B, cpuNanoseconds int64, units float64, unit string) {
	if !threadcpu.Supported || cpuNanoseconds <= 0 {
		return
	}
	b.ReportMetric(float64(cpuNanoseconds)/units, "cpu-ns/"+unit)
	b.ReportMetric(units/(float64(cpuNanoseconds)/1e9), "cpu-"+unit+"s/s")
}

// BenchmarkMemory measures the heap bytes per account and per stored transfer, indexes
// included, with 1,000,000 accounts and 10,000,000 transfers (b.N is ignored beyond 1).
func BenchmarkMemory(b *testing.B) {
	for n := 0; n < b.N; n++ {
		before := heapBytes()
		l, timestamp := newBenchLedger(b, benchAccountCount, 0)
		afterAccounts := heapBytes()
		const transferCount = 10_000_000
		createBenchTransfers(l, timestamp, transferCount, benchAccountCount/2,
			rand.New(rand.NewPCG(3, 4)))
		afterTransfers := heapBytes()
		b.ReportMetric(float64(afterAccounts-before)/benchAccountCount, "B/account")
		b.ReportMetric(float64(afterTransfers-afterAccounts)/transferCount, "B/transfer")
		accountBytes, transferBytes := l.MemoryBytes()
		b.ReportMetric(float64(accountBytes)/benchAccountCount, "held-B/account")
		b.ReportMetric(float64(transferBytes)/transferCount, "held-B/transfer")
		runtime.KeepAlive(l)
	}
}

// createBenchTransfers creates count transfers (ids 1..count) of 1 unit from a random
// account in 1..debitMax to the next one, in full batches, and returns the next timestamp.
func createBenchTransfers(l *Ledger, timestamp uint64, count int, debitMax uint64,
	random *rand.Rand) uint64 {
	batch := make([]model.Transfer, model.EventsPerRequestMax)
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	for created := 0; created < count; {
		n := min(len(batch), count-created)
		for i := range batch[:n] {
			debit := random.Uint64N(debitMax) + 1
			batch[i] = model.Transfer{ID: model.U128(uint64(created + i + 1)),
				DebitAccountID: model.U128(debit), CreditAccountID: model.U128(debit + 1),
				Amount: model.U128(1), Ledger: 1, Code: 1}
		}
		l.CreateTransfers(timestamp, batch[:n], results)
		timestamp += uint64(n)
		created += n
	}
	return timestamp
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}

// BenchmarkSnapshotCapture measures the sequencer's pause when a snapshot is taken
// (Ledger.Snapshot: copy the accounts and the pending statuses; the rest is written from
// another goroutine) at 1,000,000 accounts and 10,000,000 transfers. One op is one capture.
func BenchmarkSnapshotCapture(b *testing.B) {
	l, timestamp := newBenchLedger(b, benchAccountCount, 10_000_000)
	createBenchTransfers(l, timestamp, 10_000_000, benchAccountCount-1,
		rand.New(rand.NewPCG(5, 6)))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		view := l.Snapshot() // The writer would run here, then give the buffers back.
		view.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "pause-ms")
}

// BenchmarkGrowth measures the worst single batch while the ledger grows far past its
// preallocated capacity (2,097,152 transfers, the server's default) to 33.5 million
// transfers: storage appends chunks and the id index doubles four times. The figure to
// read is batch-max-ms (a stall here stalls every client); transfers/s includes growth.
// b.N is ignored beyond 1.
func BenchmarkGrowth(b *testing.B) {
	const transfersTotal = 1 << 25
	for n := 0; n < b.N; n++ {
		l, timestamp := newBenchLedger(b, 10_000, 1<<21)
		batch := make([]model.Transfer, model.EventsPerRequestMax)
		results := make([]model.TransferResult, model.EventsPerRequestMax)
		random := rand.New(rand.NewPCG(3, 4))
		var batchMax, total time.Duration
		nextID := uint64(1)
		for nextID < transfersTotal {
			for i := range batch {
				debit := random.Uint64N(10_000) + 1
				batch[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
					CreditAccountID: model.U128(debit%10_000 + 1), Amount: model.U128(1),
					Ledger: 1, Code: 1}
				nextID++
			}
			start := time.Now()
			l.CreateTransfers(timestamp, batch, results)
			elapsed := time.Since(start)
			total += elapsed
			batchMax = max(batchMax, elapsed)
			timestamp += uint64(len(batch))
			if results[0].Status != model.StatusOK {
				b.Fatalf("transfer: %s", results[0].Status)
			}
		}
		b.ReportMetric(float64(batchMax.Microseconds())/1000, "batch-max-ms")
		b.ReportMetric(float64(nextID-1)/total.Seconds(), "transfers/s")
	}
}

// BenchmarkEventsCost measures what recording events costs the ledger, robustly on a
// shared machine: each op applies one batch of 8,189 transfers without events and one
// with, alternating, timing each, so both halves see the same noise. It reports both
// ns/transfer and their ratio (events-cost-%).
//
//	go test ./core/ledger -run '^$' -bench EventsCost -benchtime 200x -count 3
func BenchmarkEventsCost(b *testing.B) {
	for _, accountCount := range []uint32{1_000, benchAccountCount} {
		b.Run(fmt.Sprintf("accounts=%d", accountCount), func(b *testing.B) {
			benchmarkEventsCost(b, accountCount)
		})
	}
}

func benchmarkEventsCost(b *testing.B, accountCount uint32) {
	l, timestamp := newBenchLedger(b, accountCount, 1<<25)
	random := rand.New(rand.NewPCG(5, 6))
	batch := make([]model.Transfer, model.EventsPerRequestMax)
	results := make([]model.TransferResult, model.EventsPerRequestMax)
	var buffer event.Buffer
	nextID := uint64(1)
	var spent [2]time.Duration
	apply := func(events bool) {
		for i := range batch {
			debit := random.Uint64N(uint64(accountCount)) + 1
			credit := debit%uint64(accountCount) + 1
			batch[i] = model.Transfer{ID: model.U128(nextID), DebitAccountID: model.U128(debit),
				CreditAccountID: model.U128(credit), Amount: model.U128(1), Ledger: 1, Code: 1}
			nextID++
		}
		index := 0
		if events {
			index = 1
			buffer.Reset()
			l.SetEvents(&buffer)
		}
		start := time.Now()
		l.CreateTransfers(timestamp, batch, results)
		spent[index] += time.Since(start)
		l.SetEvents(nil)
		timestamp += uint64(len(batch))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		apply(n%2 == 1)
		apply(n%2 == 0)
	}
	b.StopTimer()
	transfers := float64(b.N) * model.EventsPerRequestMax
	b.ReportMetric(float64(spent[0].Nanoseconds())/transfers, "ns/transfer-off")
	b.ReportMetric(float64(spent[1].Nanoseconds())/transfers, "ns/transfer-on")
	b.ReportMetric(100*(float64(spent[1])/float64(spent[0])-1), "events-cost-%")
}
