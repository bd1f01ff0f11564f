package netio_test

import (
	"context"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/wal"
)

// BenchmarkRoundTripDurable is BenchmarkRoundTrip's one_transfer against a real shard on
// a real log (fdatasync every entry) instead of the fake shard: one connection, one
// transfer per request, closed loop. inline lets the event loop run the idle shard's turn
// itself (shard.Config.InlineTurnsOff false, the default); sequencer keeps every turn on
// the sequencer goroutine. Run it with -trace to count the goroutine wake-ups per round
// trip. cpu-ns/round-trip is the process's CPU time (getrusage: client and server).
func BenchmarkRoundTripDurable(b *testing.B) {
	b.Run("one_transfer/inline", func(b *testing.B) { benchmarkOneTransferDurable(b, false) })
	b.Run("one_transfer/sequencer", func(b *testing.B) { benchmarkOneTransferDurable(b, true) })
	b.Run("one_transfer/paired", benchmarkOneTransferPaired)
	b.Run("32x16/paired", benchmarkManyPaired)
}

// benchmarkManyPaired is 32 connections with 16 one-transfer requests in flight each,
// against both variants in turn (slices of b.N requests, alternated
// manySlices times, so that drift falls on both): requests/s of each, their ratio, and
// the share of entries whose turn a loop ran (inline-turns/entry: under load it should
// be rare; each one holds the loop for a sync).
func benchmarkManyPaired(b *testing.B) {
	const connections, inFlight, manySlices = 32, 16, 6
	harnesses := [2]*durableHarness{newDurableHarness(b, shard.Config{}),
		newDurableHarness(b, shard.Config{InlineTurnsOff: true})}
	ctx := context.Background()
	var clients [2][]*client.Client
	for i, h := range harnesses {
		for range connections {
			clients[i] = append(clients[i], h.dial(nil))
		}
		if _, err := clients[i][0].CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
			b.Fatal(err)
		}
	}
	var elapsed [2]time.Duration
	var requests [2]int
	id := uint64(1)
	perConnection := max(b.N/(connections*manySlices), inFlight)
	b.ResetTimer()
	for slice := range 2 * manySlices {
		i := slice % 2
		if slice/2%2 == 1 {
			i = 1 - i // Alternate which variant goes first.
		}
		start := time.Now()
		var group sync.WaitGroup
		for _, c := range clients[i] {
			first := id
			id += uint64(perConnection)
			group.Go(func() {
				calls := make([]*client.Call, 0, inFlight)
				for n := range perConnection {
					calls = append(calls, c.Go(ctx, model.OperationCreateTransfers, 0,
						encodeTransfers(transfer(first+uint64(n), 1, 2, 1)), nil))
					if len(calls) == inFlight || n == perConnection-1 {
						for _, call := range calls {
							if _, err := call.Wait(ctx); err != nil {
								b.Error(err)
								return
							}
						}
						calls = calls[:0]
					}
				}
			})
		}
		group.Wait()
		elapsed[i] += time.Since(start)
		requests[i] += perConnection * connections
	}
	rate := func(i int) float64 { return float64(requests[i]) / elapsed[i].Seconds() }
	b.ReportMetric(rate(0), "inline-requests/s")
	b.ReportMetric(rate(1), "sequencer-requests/s")
	b.ReportMetric(rate(0)/rate(1), "rate-inline/sequencer")
	stats := harnesses[0].shard.Stats()
	b.ReportMetric(float64(stats.InlineTurns)/float64(max(stats.Entries, 1)), "inline-turns/entry")
}

// benchmarkOneTransferPaired runs both variants side by side in one process, alternating
// request by request (two shards, two logs in the same file system, two servers), so
// that the disk's and the machine's drift falls on both alike: inline-p50-ns and
// sequencer-p50-ns, and their ratio, compare the variants within one run.
func benchmarkOneTransferPaired(b *testing.B) {
	inline, sequencer := newDurableHarness(b, shard.Config{}),
		newDurableHarness(b, shard.Config{InlineTurnsOff: true})
	clients := [2]*client.Client{inline.dial(nil), sequencer.dial(nil)}
	ctx := context.Background()
	for _, c := range clients {
		if _, err := c.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
			b.Fatal(err)
		}
	}
	body := encodeTransfers(transfer(1, 1, 2, 1))
	var durations [2][]time.Duration
	id := uint64(1)
	for b.Loop() {
		id++
		model.U128(id).PutLE(body)
		for i, c := range clients {
			start := time.Now()
			if _, err := c.Do(ctx, model.OperationCreateTransfers, 0, body); err != nil {
				b.Fatal(err)
			}
			durations[i] = append(durations[i], time.Since(start))
		}
	}
	for i := range durations {
		slices.Sort(durations[i])
	}
	at := func(i int, fraction float64) float64 {
		return float64(durations[i][min(int(fraction*float64(len(durations[i]))), len(durations[i])-1)])
	}
	b.ReportMetric(at(0, 0.5), "inline-p50-ns")
	b.ReportMetric(at(1, 0.5), "sequencer-p50-ns")
	b.ReportMetric(at(0, 0.5)/at(1, 0.5), "p50-inline/sequencer")
	b.ReportMetric(at(0, 0.99), "inline-p99-ns")
	b.ReportMetric(at(1, 0.99), "sequencer-p99-ns")
}

func benchmarkOneTransferDurable(b *testing.B, inlineTurnsOff bool) {
	h := newDurableHarness(b, shard.Config{InlineTurnsOff: inlineTurnsOff})
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
	b.ReportMetric(float64(processCPU()-cpuBefore)/float64(b.N), "cpu-ns/round-trip")
	reportLatency(b, durations)
	stats := h.shard.Stats()
	b.ReportMetric(float64(stats.InlineTurns)/float64(max(stats.Entries, 1)), "inline-turns/entry")
}

// durableHarness is a server in front of a real shard on a real log in a temporary
// directory.
type durableHarness struct {
	*harness
	shard *shard.Shard
}

func newDurableHarness(t testing.TB, config shard.Config) *durableHarness {
	t.Helper()
	return newDurableHarnessWith(t, config, nil)
}

// newDurableHarnessWith is newDurableHarness with the server's configuration adjusted.
func newDurableHarnessWith(t testing.TB, config shard.Config,
	configure func(*netio.Config)) *durableHarness {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	config.PulseInterval = time.Hour
	s, err := shard.New(config, core.New(core.Config{RulesVersion: core.RulesVersionCurrent}), log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	serverConfig := netio.Config{Address: "127.0.0.1:0", Keys: keys, Logger: testLogger()}
	if configure != nil {
		configure(&serverConfig)
	}
	server, err := netio.NewServer(serverConfig, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("shard close: %v", err)
		}
		if err := log.Close(); err != nil {
			t.Errorf("log close: %v", err)
		}
	})
	return &durableHarness{harness: &harness{t: t, server: server, keys: keys}, shard: s}
}

// processCPU returns the process's user and system CPU time in ns.
func processCPU() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
