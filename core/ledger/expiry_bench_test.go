package ledger

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkPostTimedPending measures the life of pending transfers with a timeout that
// are posted before their deadline: each round creates expiryRoundBatches batches of
// them between random accounts (timedPendingBenchBatch), posts them in a shuffled order
// in batches of the same length (postBenchBatch; one op is one batch of posts), then
// sweeps past their deadline (expirySweepBenchBatch), which expires none of them. The
// expiry heap's work falls in the posts (taking each item out) or in the sweep (popping
// the items of resolved transfers, as before session 46): callgrind counts the three
// functions apart (--toggle-collect on each); cpu-ns/post is the posts' thread CPU time
// alone, sweep-cpu-ns/post the sweeps' (per post swept).
// Give -benchtime as a count (each op stores twice its batch in transfers).
func BenchmarkPostTimedPending(b *testing.B) {
	for _, batch := range []int{model.EventsPerRequestMax, 1} {
		b.Run(fmt.Sprintf("accounts=%d/batch=%d", benchAccountCount, batch), func(b *testing.B) {
			benchmarkPostTimedPending(b, benchAccountCount, batch)
		})
	}
}

// expiryRoundBatches is how many batches of timed pending transfers one round of
// BenchmarkPostTimedPending creates before posting them.
const expiryRoundBatches = 16

func benchmarkPostTimedPending(b *testing.B, accountCount uint32, batchLength int) {
	l, timestamp := newBenchLedger(b, accountCount, 1<<22)
	random := rand.New(rand.NewPCG(5, 6))
	roundLength := expiryRoundBatches * batchLength
	pendings := make([]model.Transfer, roundLength)
	posts := make([]model.Transfer, roundLength)
	results := make([]model.TransferResult, max(roundLength, model.EventsPerRequestMax))
	nextID := uint64(1)
	newRound := func() {
		for i := range pendings {
			pendings[i] = randomPendingTransfer(random, accountCount, nextID)
			pendings[i].Timeout = 1
			nextID++
		}
		for start := 0; start < len(pendings); start += model.EventsPerRequestMax {
			end := min(start+model.EventsPerRequestMax, len(pendings))
			timedPendingBenchBatch(l, timestamp, pendings[start:end], results[:end-start])
			timestamp += uint64(end - start)
			for i := range results[:end-start] {
				if results[i].Status != model.StatusOK {
					b.Fatalf("pending %d: %s", start+i, results[i].Status)
				}
			}
		}
		for i := range posts {
			posts[i] = model.Transfer{ID: model.U128(nextID), PendingID: pendings[i].ID,
				Amount: model.Uint128Max, Flags: model.TransferPostPending}
			nextID++
		}
		random.Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	var cpu, sweepCPU int64
	for n := 0; n < b.N; n++ {
		round := n % expiryRoundBatches
		if round == 0 {
			b.StopTimer()
			newRound()
			b.StartTimer()
		}
		start, end := round*batchLength, (round+1)*batchLength
		cpuStart := threadcpu.Now()
		postBenchBatch(l, false, timestamp, posts[start:end], nil, results[:batchLength])
		cpu += threadcpu.Now() - cpuStart
		timestamp += uint64(batchLength)
		for i := range results[:batchLength] {
			if results[i].Status != model.StatusOK {
				b.Fatalf("post %d: %s", start+i, results[i].Status)
			}
		}
		if round == expiryRoundBatches-1 {
			b.StopTimer()
			timestamp += 2 * nanosecondsPerSecond
			cpuStart := threadcpu.Now()
			expired := expirySweepBenchBatch(l, timestamp)
			sweepCPU += threadcpu.Now() - cpuStart
			if expired != 0 {
				b.Fatalf("%d posted transfers expired", expired)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	reportThreadCPU(b, cpu, float64(b.N)*float64(batchLength), "post")
	if threadcpu.Supported && b.N >= expiryRoundBatches {
		// The sweeps' time per post: what the heap's work costs where it falls after the
		// posts (only whole rounds are swept).
		swept := float64(b.N/expiryRoundBatches) * float64(roundLength)
		b.ReportMetric(float64(sweepCPU)/swept, "sweep-cpu-ns/post")
	}
}

// timedPendingBenchBatch creates BenchmarkPostTimedPending's pending transfers (not
// inlined, so that callgrind can toggle on it).
//
//go:noinline
func timedPendingBenchBatch(l *Ledger, timestamp uint64, pendings []model.Transfer,
	results []model.TransferResult) {
	l.CreateTransfers(timestamp, pendings, results)
}

// expirySweepBenchBatch is BenchmarkPostTimedPending's sweep, called until nothing is
// due (not inlined, so that callgrind can toggle on it).
//
//go:noinline
func expirySweepBenchBatch(l *Ledger, timestamp uint64) int {
	total := l.Expire(timestamp, nil)
	for deadline, ok := l.NextDeadline(); ok && deadline <= timestamp; {
		total += l.Expire(timestamp, nil)
		deadline, ok = l.NextDeadline()
	}
	return total
}
