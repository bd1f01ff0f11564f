package netio_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// BenchmarkRoundTrip measures the network layer over loopback against the fake shard
// (no log, no fsync): the Go client, framing, the gnet server, Submit, Deliver and the
// way back. The fake decodes and applies each transfer to a real ledger.
//
//   - one_transfer: one connection, one transfer per request, closed loop (latency).
//   - batch_8189: four goroutines on one connection, 8189 transfers per request,
//     pipelined (throughput; transfers/s is the figure).
//   - batch_8189_unchecked: the same on a session that negotiated unchecked frames
//     (login option bit 1): neither the client computes nor the server verifies the
//     request frames' CRC32C; replies keep theirs. Compare with batch_8189 in one run.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("one_transfer", benchmarkOneTransfer)
	b.Run("batch_8189", func(b *testing.B) { benchmarkBatch(b, false) })
	b.Run("batch_8189_unchecked", func(b *testing.B) { benchmarkBatch(b, true) })
}

func benchmarkOneTransfer(b *testing.B) {
	{
		h := newHarness(b, harnessOptions{})
		c := h.dial(nil)
		ctx := context.Background()
		if _, err := c.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
			b.Fatal(err)
		}
		body := encodeTransfers(transfer(1, 1, 2, 1))
		durations := make([]time.Duration, 0, 1<<16)
		id := uint64(1)
		cpuBefore := processCPU()
		b.ReportAllocs()
		for b.Loop() {
			id++
			model.U128(id).PutLE(body)
			start := time.Now()
			if _, err := c.Do(ctx, model.OperationCreateTransfers, 0, body); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		// The process's CPU (client, server and fake shard together) per round trip: on a
		// shared machine steadier than the elapsed figures.
		b.ReportMetric(float64(processCPU()-cpuBefore)/float64(b.N), "cpu-ns/round-trip")
		reportLatency(b, durations)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
	}
}

func benchmarkBatch(b *testing.B, unchecked bool) {
	{
		h := newHarness(b, harnessOptions{})
		c := h.dial(func(config *client.Config) { config.UncheckedFrames = unchecked })
		ctx := context.Background()
		if _, err := c.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
			b.Fatal(err)
		}
		const workers = 4
		batch := make([]model.Transfer, model.EventsPerRequestMax)
		var mu sync.Mutex
		var durations []time.Duration
		next := uint64(1 << 32)
		b.ResetTimer()
		var group sync.WaitGroup
		requests := make(chan struct{}, b.N)
		for range b.N {
			requests <- struct{}{}
		}
		close(requests)
		for range workers {
			group.Add(1)
			go func() {
				defer group.Done()
				transfers := slices.Clone(batch)
				for range requests {
					mu.Lock()
					first := next
					next += uint64(len(transfers))
					mu.Unlock()
					for i := range transfers {
						transfers[i] = transfer(first+uint64(i), 1, 2, 1)
					}
					start := time.Now()
					if _, err := c.CreateTransfers(ctx, transfers); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					durations = append(durations, time.Since(start))
					mu.Unlock()
				}
			}()
		}
		group.Wait()
		reportLatency(b, durations)
		b.ReportMetric(float64(b.N*model.EventsPerRequestMax)/b.Elapsed().Seconds(),
			"transfers/s")
	}
}

func reportLatency(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(fraction float64) float64 {
		return float64(durations[min(int(fraction*float64(len(durations))), len(durations)-1)])
	}
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(float64(durations[len(durations)-1]), "max-ns")
}
