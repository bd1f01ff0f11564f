package shard

import (
	"log/slog"
	"runtime"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// creditReplier hands one credit back per reply, so that a benchmark keeps a bounded
// number of requests in flight, as pipelining clients do.
type creditReplier struct{ credits chan struct{} }

func (r *creditReplier) Deliver(replies []backend.Reply) {
	for range replies {
		<-r.credits
	}
}

func (r *creditReplier) DeliverReports([]backend.Report) {}

// Mixed load: mixedConnections connections, mixedInFlight requests in flight in all,
// each connection sending in turn a lookup of one account then a one-transfer
// create_transfers (BenchmarkMixedReadWrite), or transfers only
// (BenchmarkMixedWritesOnly). On a memory log: no sync, so the figures are the
// sequencer's own cost, and the entries per request its turns' sizes.
const (
	mixedConnections = 32
	mixedInFlight    = 512
	mixedAccounts    = 1024
)

func BenchmarkMixedReadWrite(b *testing.B) { benchmarkMixed(b, true, false) }

func BenchmarkMixedWritesOnly(b *testing.B) { benchmarkMixed(b, false, false) }

// BenchmarkMixedReadWriteSynced is BenchmarkMixedReadWrite on a real log (fdatasync
// every group): it also reports the requests each sync carried.
func BenchmarkMixedReadWriteSynced(b *testing.B) { benchmarkMixed(b, true, true) }

func benchmarkMixed(b *testing.B, reads bool, synced bool) {
	var log Log = wal.NewMemoryLog()
	var realLog *wal.Log
	if synced {
		opened, err := wal.Open(wal.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer opened.Close()
		log, realLog = opened, opened
	}
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), log)
	if err != nil {
		b.Fatal(err)
	}
	table := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(table); err != nil {
		b.Fatal(err)
	}
	replier := &creditReplier{credits: make(chan struct{}, mixedInFlight)}
	s.Start(RepliesOnly(replier))
	defer s.Close()
	ids := make([]uint64, mixedAccounts)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	number := make([]uint64, mixedConnections+1)
	submit := func(request *backend.Request) {
		replier.credits <- struct{}{}
		for s.Submit(request) == model.StatusBusy {
			runtime.Gosched()
		}
	}
	for first := 0; first < mixedAccounts; first += model.EventsPerRequestMax {
		number[1]++
		submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number[1],
			Operation: model.OperationCreateAccounts,
			Body:      plainAccountsBody(ids[first:min(first+model.EventsPerRequestMax, mixedAccounts)]...)})
	}
	lookup := make([][]byte, mixedAccounts)
	for i := range lookup {
		lookup[i] = model.U128(uint64(i + 1)).Append(nil)
	}
	for len(replier.credits) > 0 { // The accounts are answered: count from here.
		time.Sleep(time.Millisecond)
	}
	entriesBefore := s.Stats().Entries
	var syncsBefore uint64
	if realLog != nil {
		syncsBefore = realLog.Stats().Syncs
	}
	transfer := uint64(1 << 40)
	request := 0
	for b.Loop() {
		connection := uint64(request%mixedConnections) + 1
		number[connection]++
		account := uint64(request % mixedAccounts)
		if reads && (request/mixedConnections)%2 == 0 {
			submit(&backend.Request{Connection: connection, Client: 7, Session: connection,
				Number: number[connection], Operation: model.OperationLookupAccounts,
				Body: lookup[account]})
		} else {
			transfer++
			submit(&backend.Request{Connection: connection, Client: 7, Session: connection,
				Number: number[connection], Operation: model.OperationCreateTransfers,
				Body: transferBody(transfer, account+1, (account+1)%mixedAccounts+1, 1, 0, 0)})
		}
		request++
	}
	for range mixedInFlight { // Wait for every reply.
		replier.credits <- struct{}{}
	}
	b.ReportMetric(float64(s.Stats().Entries-entriesBefore)/float64(max(request, 1)),
		"entries/request")
	if realLog != nil {
		b.ReportMetric(float64(request)/float64(max(realLog.Stats().Syncs-syncsBefore, 1)),
			"requests/sync")
	}
}

// nullReplier drops every reply.
type nullReplier struct{}

func (nullReplier) Deliver([]backend.Reply) {}

func (nullReplier) DeliverReports([]backend.Report) {}

// BenchmarkTurnsReadWrite and BenchmarkTurnsWritesOnly run the sequencer's turns on the
// benchmark's goroutine (holding turns, as an event loop's inline turn does), on a
// memory log, so that callgrind counts the same instructions at every run: one op is a
// batch of turnsBatchRounds rounds of one request from each of mixedConnections
// connections pushed into the ring, then turns until it is empty. In BenchmarkTurnsReadWrite
// the even rounds are lookups and the odd ones one-transfer create_transfers, so every
// connection pipelines read, write, read, write...
func BenchmarkTurnsReadWrite(b *testing.B) { benchmarkTurns(b, true) }

func BenchmarkTurnsWritesOnly(b *testing.B) { benchmarkTurns(b, false) }

const turnsBatchRounds = 8

func benchmarkTurns(b *testing.B, reads bool) {
	s, err := New(Config{PulseInterval: time.Hour, InlineTurnsOff: true},
		core.New(testMachineConfig), wal.NewMemoryLog())
	if err != nil {
		b.Fatal(err)
	}
	table := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(table); err != nil {
		b.Fatal(err)
	}
	s.Start(RepliesOnly(nullReplier{}))
	defer s.Close()
	number := make([]uint64, mixedConnections+1)
	ids := make([]uint64, mixedAccounts)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	for first := 0; first < mixedAccounts; first += model.EventsPerRequestMax {
		number[1]++
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number[1], Operation: model.OperationCreateAccounts,
			Body: plainAccountsBody(ids[first:min(first+model.EventsPerRequestMax, mixedAccounts)]...)}); status != model.StatusOK {
			b.Fatal(status)
		}
	}
	for s.Stats().Released < 2 || !s.turns.TryLock() { // The grants and the accounts.
		time.Sleep(time.Millisecond)
	}
	defer s.turns.Unlock()
	lookup := make([][]byte, mixedAccounts)
	for i := range lookup {
		lookup[i] = model.U128(uint64(i + 1)).Append(nil)
	}
	transfers := make([][]byte, mixedConnections*turnsBatchRounds)
	entriesBefore, requests := s.Stats().Entries, 0
	transfer := uint64(1 << 40)
	var request backend.Request
	for b.Loop() {
		for round := range turnsBatchRounds {
			for connection := uint64(1); connection <= mixedConnections; connection++ {
				number[connection]++
				account := uint64(requests % mixedAccounts)
				request = backend.Request{Connection: connection, Client: 7, Session: connection,
					Number: number[connection], Operation: model.OperationLookupAccounts,
					Body: lookup[account]}
				write := !reads || round%2 == 1
				if write {
					transfer++
					body := &transfers[requests%len(transfers)]
					*body = append((*body)[:0], transferBody(transfer, account+1,
						(account+1)%mixedAccounts+1, 1, 0, 0)...)
					request.Operation, request.Body = model.OperationCreateTransfers, *body
				}
				if status := s.ring.push(&request, write); status != model.StatusOK {
					b.Fatal(status)
				}
				requests++
			}
		}
		for s.ring.depth() > 0 {
			if _, _, err := s.iterate(false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(s.Stats().Entries-entriesBefore)/float64(max(requests, 1)),
		"entries/request")
}
