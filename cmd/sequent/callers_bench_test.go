package main

import (
	"context"
	"encoding/hex"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/netio"
	"sequent/netio/client"
)

// callersBenchCallers and callersBenchInflight are issue 15's shape: 512 goroutines each
// calling CreateTransfers with one transfer at a time through one client whose window
// holds 4 merged requests (`sequent bench --callers 512 --events 1 --connections 1
// --inflight 4`).
const (
	callersBenchCallers  = 512
	callersBenchInflight = 4
	callersBenchAccounts = 1000
)

// BenchmarkCallersDurable runs that shape against an in-process node (log fdatasync'd
// per entry, as `sequent bench --embedded`), with no load generator around the calls.
// cpu-ns/call is the process's CPU time (client and server together, every goroutine:
// getrusage) per call, the figure the 1 M calls/s on 2 cores needs at ~2,000.
// Run:
//
//	go test ./cmd/sequent -run '^$' -bench CallersDurable -benchtime 300000x -count 3
//
// rejoin=off and rejoin=default compare the client without and with its wait for the
// callers an answer woke (client.Config.RejoinWait); on a shared machine run them
// alternately, one per process (-bench 'CallersDurable/rejoin=off$', then =default).
// context=cancelable passes the callers one context that can end, as sequent bench does
// (the others pass context.Background(), which never ends): the shape of the client's
// shared wait (netio/client coalesce.go, watchLocked). results=into has each caller
// reuse its results slice (client.CreateTransfersInto, as sequent bench's callers do)
// instead of receiving a new one per call.
func BenchmarkCallersDurable(b *testing.B) {
	for _, shape := range []struct {
		name       string
		wait       time.Duration
		cancelable bool
		into       bool
	}{{"rejoin=off", -1, false, false}, {"rejoin=default", 0, false, false},
		{"rejoin=default,context=cancelable", 0, true, false},
		{"rejoin=default,context=cancelable,results=into", 0, true, true}} {
		b.Run(shape.name, func(b *testing.B) {
			benchmarkCallersDurable(b, shape.wait, shape.cancelable, shape.into)
		})
	}
}

func benchmarkCallersDurable(b *testing.B, rejoinWait time.Duration, cancelable, into bool) {
	dir := b.TempDir()
	dev, err := netio.GenerateDevKeys(node.Layout{Dir: dir}.KeysPath())
	if err != nil {
		b.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.address, options.logLevel = dir, "127.0.0.1:0", "error"
	options.accountsCapacity = 1 << 18
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = running.stop() }()
	secret, _ := hex.DecodeString(dev.Secret)
	ctx := context.Background()
	c, err := client.Dial(ctx, client.Config{Client: dev.Client, Key: dev.Key,
		Secret: secret, Addresses: []string{running.server.Address()},
		InflightMax: callersBenchInflight, RejoinWait: rejoinWait})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	accounts := make([]model.Account, callersBenchAccounts)
	for i := range accounts {
		accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1}
	}
	if _, err := c.CreateAccounts(ctx, accounts); err != nil {
		b.Fatal(err)
	}
	callers := ctx
	if cancelable {
		var cancel context.CancelFunc
		callers, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := processCPUNanoseconds()
	var group sync.WaitGroup
	for range callersBenchCallers {
		group.Go(func() {
			transfers := make([]model.Transfer, 1)
			results := make([]model.EventResult, 1)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				debit := uint64(n) % callersBenchAccounts
				transfers[0] = model.Transfer{ID: model.U128(uint64(n)),
					DebitAccountID:  model.U128(debit + 1),
					CreditAccountID: model.U128((debit+1)%callersBenchAccounts + 1),
					Amount:          model.U128(1), Ledger: 1, Code: 1}
				var err error
				if into {
					err = c.CreateTransfersInto(callers, transfers, results)
				} else {
					results, err = c.CreateTransfers(callers, transfers)
				}
				if err != nil || results[0].Status != model.StatusOK {
					b.Errorf("transfer %d: %v %v", n, results, err)
					return
				}
			}
		})
	}
	group.Wait()
	cpu := processCPUNanoseconds() - cpuStart
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// processCPUNanoseconds is the user and system CPU time of the whole process so far.
func processCPUNanoseconds() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
