package ledger

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkPostPending measures posts of pending transfers, alone: each round creates
// postRoundBatches batches of pending transfers between uniformly random accounts (not
// measured), then posts them in batches of the same length (measured; one op is one
// batch of posts, cpu-ns/post the figure to read).
//
// kind=client is a post as a client usually sends it: only the pending id and the
// flag, the amount 2^128-1 (the full pending amount), every other field inherited.
// kind=saga is step 3 of a cross-shard transfer (core/saga): the accounts named, the
// amount given, sent through CreateSagaFinishes with each pending transfer's storage
// index. Batches of 8,189 are full requests; 1 and 3 are what the matching engine and
// the sagas send.
//
// postBenchBatch is the only code measured, so that callgrind can count it alone
// (--toggle-collect='*postBenchBatch'). Every op stores twice its batch in transfers (the
// pendings and their posts, ~180 B each), so give -benchtime as a count (48x for
// batches of 8,189: ~140 MB) rather than a time, which at ~150 ns a post would store
// gigabytes.
func BenchmarkPostPending(b *testing.B) {
	for _, accountCount := range []uint32{1_000, benchAccountCount} {
		for _, kind := range []string{"client", "saga"} {
			for _, batch := range []int{model.EventsPerRequestMax, 1, 3} {
				name := fmt.Sprintf("accounts=%d/kind=%s/batch=%d", accountCount, kind, batch)
				b.Run(name, func(b *testing.B) {
					benchmarkPostPending(b, accountCount, kind == "saga", batch)
				})
			}
		}
	}
}

// postRoundBatches is how many batches of pending transfers one round of
// BenchmarkPostPending creates before posting them (bounded so that memory stays small
// whatever b.N is).
const postRoundBatches = 16

func benchmarkPostPending(b *testing.B, accountCount uint32, saga bool, batchLength int) {
	l, timestamp := newBenchLedger(b, accountCount, 1<<22)
	random := rand.New(rand.NewPCG(3, 4))
	roundLength := postRoundBatches * batchLength
	pendings := make([]model.Transfer, roundLength)
	posts := make([]model.Transfer, roundLength)
	indexes := make([]uint32, roundLength)
	results := make([]model.TransferResult, max(roundLength, model.EventsPerRequestMax))
	nextID := uint64(1)
	// newRound creates a round of pending transfers and the posts that resolve them.
	newRound := func() {
		for i := range pendings {
			pendings[i] = randomPendingTransfer(random, accountCount, nextID)
			nextID++
		}
		for start := 0; start < len(pendings); start += model.EventsPerRequestMax {
			end := min(start+model.EventsPerRequestMax, len(pendings))
			l.CreateTransfers(timestamp, pendings[start:end], results[:end-start])
			timestamp += uint64(end - start)
			for i := range results[:end-start] {
				if results[i].Status != model.StatusOK {
					b.Fatalf("pending %d: %s", start+i, results[i].Status)
				}
			}
		}
		for i := range posts {
			p := &pendings[i]
			posts[i] = model.Transfer{ID: model.U128(nextID), PendingID: p.ID,
				Amount: model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)},
				Flags:  model.TransferPostPending}
			if saga {
				posts[i].DebitAccountID, posts[i].CreditAccountID = p.DebitAccountID, p.CreditAccountID
				posts[i].Amount = p.Amount
				index, found := l.TransferIndex(p.ID)
				if !found {
					b.Fatalf("pending %d not found", i)
				}
				indexes[i] = index
			}
			nextID++
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	var cpu int64
	for n := 0; n < b.N; n++ {
		round := n % postRoundBatches
		if round == 0 {
			b.StopTimer()
			newRound()
			b.StartTimer()
		}
		start, end := round*batchLength, (round+1)*batchLength
		cpuStart := threadcpu.Now()
		postBenchBatch(l, saga, timestamp, posts[start:end], indexes[start:end],
			results[:batchLength])
		cpu += threadcpu.Now() - cpuStart
		timestamp += uint64(batchLength)
		for i := range results[:batchLength] {
			if results[i].Status != model.StatusOK {
				b.Fatalf("post %d: %s", start+i, results[i].Status)
			}
		}
	}
	b.StopTimer()
	posted := float64(b.N) * float64(batchLength)
	reportThreadCPU(b, cpu, posted, "post")
}

// postBenchBatch is the measured call of BenchmarkPostPending (not inlined, so that
// callgrind can toggle on it).
//
//go:noinline
func postBenchBatch(l *Ledger, saga bool, timestamp uint64, posts []model.Transfer,
	indexes []uint32, results []model.TransferResult) {
	if saga {
		l.CreateSagaFinishes(timestamp, posts, indexes, results)
		return
	}
	l.CreateTransfers(timestamp, posts, results)
}

// randomPendingTransfer is a pending transfer of id between two different random accounts
// of 1..accountCount, of a random amount up to 1,000 (the post and expiry benchmarks'
// rounds).
func randomPendingTransfer(random *rand.Rand, accountCount uint32, id uint64) model.Transfer {
	debit := random.Uint64N(uint64(accountCount)) + 1
	credit := random.Uint64N(uint64(accountCount)-1) + 1
	if credit >= debit {
		credit++
	}
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(1 + random.Uint64N(1000)),
		Ledger: 1, Code: 1, Flags: model.TransferPending}
}
