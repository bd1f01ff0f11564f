package shard

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/wal"
)

// BenchmarkFullBatchLatency is the shard's part of issue 15's "latency of full batches":
// one request of 8,189 transfers between 10,000 accounts in flight at a time, against a
// real log (fdatasync every group), storage preallocated; Submit, then wait for the reply.
// It leaves out the network and the client (and the network event loop, which holds a P
// while it sleeps: bench/PERFORMANCE.md, "Latency of full batches"), so it shows what the
// sequencer, the apply and the log cost on their own. One op is one request; read p50-ms,
// p90-ms and p99-ms.
func BenchmarkFullBatchLatency(b *testing.B) {
	const accountCount = 10_000
	log, err := wal.Open(wal.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	machine := core.New(core.Config{Ledger: ledger.Config{AccountsCapacity: accountCount,
		TransfersCapacity: 1 << 23}})
	s, err := New(Config{PulseInterval: time.Hour}, machine, log)
	if err != nil {
		b.Fatal(err)
	}
	replier := &signallingReplier{arrived: make(chan struct{}, 1)}
	s.Start(RepliesOnly(replier))
	defer s.Close()
	number := uint64(0)
	submit := func(operation model.Operation, body []byte) {
		number++
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: operation, Body: body}); status != model.StatusOK {
			b.Fatalf("submit: %s", status)
		}
		<-replier.arrived
	}
	if err := s.SetGrants(model.AppendGrants(nil, []model.Grant{{Client: 7,
		Scopes: model.ScopeOperator}})); err != nil {
		b.Fatal(err)
	}
	ids := make([]uint64, 0, model.EventsPerRequestMax)
	for next := uint64(1); next <= accountCount; next++ {
		ids = append(ids, next)
		if len(ids) == cap(ids) || next == accountCount {
			submit(model.OperationCreateAccounts, plainAccountsBody(ids...))
			ids = ids[:0]
		}
	}
	random := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, model.EventsPerRequestMax*model.TransferSize)
	transferID := uint64(0)
	durations := make([]time.Duration, 0, 1<<12)
	for b.Loop() {
		for i := range model.EventsPerRequestMax {
			transferID++
			debit := random.Uint64N(accountCount) + 1
			transfer := model.Transfer{ID: model.U128(transferID),
				DebitAccountID: model.U128(debit), CreditAccountID: model.U128(debit%accountCount + 1),
				Amount: model.U128(1), Ledger: 1, Code: 1}
			transfer.Encode(body[i*model.TransferSize:])
		}
		started := time.Now()
		submit(model.OperationCreateTransfers, body)
		durations = append(durations, time.Since(started))
	}
	if counts := s.EventStatusCounts(); counts["ok"] != accountCount+transferID {
		b.Fatalf("event results %v: want every account and transfer ok", counts)
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	// The p90 shows the tails of the request's own copies (session 29: the ring and the
	// log's slots) with a few hundred requests, where the p99 is a handful of samples
	// set by the disk and the machine's other load.
	b.ReportMetric(float64(durations[len(durations)*9/10].Microseconds())/1000, "p90-ms")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(log.Stats().InlineGroups), "inline-groups")
}
