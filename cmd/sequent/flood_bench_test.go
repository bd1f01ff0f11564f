package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/ops"
)

// floodWorkers is the flood: 200 concurrent GET /metrics loops.
const floodWorkers = 200

// BenchmarkBinaryLatencyUnderHTTPFlood measures a binary client's write latency (one
// transfer per request, fdatasync on) on an in-process node while floodWorkers
// loops in a child process (on one core: GOMAXPROCS=1) GET /metrics as fast as the
// operators' port answers, three ways in one run: quiet (no flood), flood against the
// default limits (per-address rate and connections, metrics rendered once a second), and
// flood with the limits off (as before them). On a 2-core machine the flood's client
// side still takes a core in both flood cases. Run:
//
//	go test ./cmd/sequent -run '^$' -bench BinaryLatencyUnderHTTPFlood -benchtime 3000x -count 3
func BenchmarkBinaryLatencyUnderHTTPFlood(b *testing.B) {
	for _, c := range []struct {
		name   string
		flood  bool
		limits bool
	}{{"quiet", false, true}, {"flood-limited", true, true}, {"flood-unlimited", true, false}} {
		b.Run(c.name, func(b *testing.B) { benchmarkUnderFlood(b, c.flood, c.limits) })
	}
}

func benchmarkUnderFlood(b *testing.B, floodOn, limits bool) {
	node, httpAddress, c := startFloodTarget(b, limits)
	ctx := context.Background()
	if _, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory() // What earlier runs left is returned first: growth is this run's.
	rssBefore := residentBytes()
	var flooding *flood
	floodStarted := time.Now()
	if floodOn {
		flooding = startFlood(b, "http://"+httpAddress+ops.PathMetrics)
		time.Sleep(500 * time.Millisecond) // Let the flood reach its pace.
	}
	latency := hdrhistogram.New(1, 10_000_000, 3) // µs
	b.ResetTimer()
	for i := range b.N {
		sent := time.Now()
		id := model.U128(uint64(1000 + i))
		if _, err := c.CreateTransfers(ctx, []model.Transfer{{ID: id, DebitAccountID: model.U128(1),
			CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1}}); err != nil {
			b.Fatal(err)
		}
		latency.RecordValue(time.Since(sent).Microseconds())
	}
	b.StopTimer()
	rssGrowth := residentBytes() - rssBefore // Before the flood ends, as the issue measured.
	var served, refused int64
	if flooding != nil {
		served, refused = flooding.stop(b)
	}
	flooded := time.Since(floodStarted).Seconds()
	b.ReportMetric(float64(latency.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(latency.ValueAtQuantile(99))/1000, "p99-ms")
	b.ReportMetric(float64(latency.Max())/1000, "max-ms")
	b.ReportMetric(float64(rssGrowth)/(1<<20), "rss-growth-MB")
	b.ReportMetric(float64(served)/flooded, "scrapes-served/s")
	b.ReportMetric(float64(refused)/flooded, "scrapes-refused/s")
	c.Close()
	if err := node.stop(); err != nil {
		b.Fatal(err)
	}
}

// startFloodTarget starts a node and its operators' port (limits on or off) in a
// temporary directory, and a binary client of it.
func startFloodTarget(b *testing.B, limits bool) (*runningNode, string, *client.Client) {
	dir := b.TempDir()
	dev, err := netio.GenerateDevKeys(node.Layout{Dir: dir}.KeysPath())
	if err != nil {
		b.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.address, options.http, options.logLevel = dir, "127.0.0.1:0",
		"127.0.0.1:0", "error"
	options.accountsCapacity, options.transfersCapacity = 1024, 1<<16 // Small and alike.
	node, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	node.ops, err = startOps(&options, node, func(config *ops.Config) {
		if !limits {
			config.RequestsPerSecondPerAddress, config.ConnectionsPerAddressMax = -1, -1
			config.MetricsCacheInterval = -1
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	secret, _ := hex.DecodeString(dev.Secret)
	c, err := client.Dial(context.Background(), client.Config{Client: dev.Client, Key: dev.Key,
		Secret: secret, Addresses: []string{node.server.Address()}})
	if err != nil {
		b.Fatal(err)
	}
	return node, node.ops.Address(), c
}

// flood is a child process (this test binary running TestFloodProcess) that sends the
// flood, so that its client side is not the node's process; GOMAXPROCS=1 keeps it to one
// of the machine's cores.
type flood struct {
	command *exec.Cmd
	output  strings.Builder
}

func startFlood(b *testing.B, url string) *flood {
	f := &flood{command: exec.Command(os.Args[0], "-test.run=^TestFloodProcess$")}
	f.command.Env = append(os.Environ(), "SEQUENT_FLOOD_URL="+url, "GOMAXPROCS=1")
	f.command.Stdout = &f.output
	if err := f.command.Start(); err != nil {
		b.Fatal(err)
	}
	return f
}

// stop ends the flood and returns the responses it got: 200s and others.
func (f *flood) stop(b *testing.B) (served, refused int64) {
	f.command.Process.Signal(syscall.SIGTERM)
	f.command.Wait()
	for _, line := range strings.Split(f.output.String(), "\n") {
		if counts, ok := strings.CutPrefix(line, "flood: "); ok {
			fmt.Sscan(counts, &served, &refused)
			return served, refused
		}
	}
	b.Fatalf("the flood process said: %q", f.output.String())
	return 0, 0
}

// TestFloodProcess is the flood's child process: it does nothing unless
// SEQUENT_FLOOD_URL is set (startFlood sets it); then floodWorkers loops GET that URL
// until SIGTERM, and it prints "flood: SERVED REFUSED".
func TestFloodProcess(t *testing.T) {
	url := os.Getenv("SEQUENT_FLOOD_URL")
	if url == "" {
		t.Skip("the flood's child process (BenchmarkBinaryLatencyUnderHTTPFlood)")
	}
	log.SetOutput(io.Discard) // net/http logs each 429 or 503 of a refused connection.
	terminated := make(chan os.Signal, 1)
	signal.Notify(terminated, syscall.SIGTERM)
	var stop atomic.Bool
	var served, refused atomic.Int64
	var workers sync.WaitGroup
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: floodWorkers},
		Timeout: 10 * time.Second}
	for range floodWorkers {
		workers.Go(func() {
			for !stop.Load() {
				response, err := httpClient.Get(url)
				if err != nil {
					refused.Add(1)
					continue
				}
				io.Copy(io.Discard, response.Body)
				response.Body.Close()
				if response.StatusCode == http.StatusOK {
					served.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	<-terminated
	stop.Store(true)
	workers.Wait()
	fmt.Printf("flood: %d %d\n", served.Load(), refused.Load())
}

// residentBytes is the process's resident set size (Linux; 0 elsewhere).
func residentBytes() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
