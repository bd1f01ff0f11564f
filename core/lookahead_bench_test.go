package core

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// Many small requests (issue 15): 32 clients, 16 sessions each, one transfer per request.
const (
	smallRequestClients           = 32
	smallRequestSessionsPerClient = 16
)

// BenchmarkApplySmallRequests applies entries of requests=N one-transfer requests as the
// sequencer writes them under many connections (32 clients × 16 sessions, in turn), each
// transfer from a random account of its sender to a random account, among accounts=N
// accounts. cpu-ns/request is the thread's CPU time in Apply only (building the entries is
// left out); user-ns/request is its user part, which leaves out the kernel's page faults
// as the stored transfers grow (their cost varies from run to run with how the kernel
// finds huge pages, and swamps differences in the apply itself). Wall-time figures
// include the building.
//
//	go test ./core -run '^$' -bench ApplySmallRequests -count 6
func BenchmarkApplySmallRequests(b *testing.B) {
	for _, accounts := range []uint64{10_000, 1_000_000} {
		var bench *smallRequestBench // Built once per account count, on first use.
		for _, requests := range []int{128, 256} {
			b.Run(fmt.Sprintf("accounts=%d/requests=%d", accounts, requests), func(b *testing.B) {
				if bench == nil {
					bench = newSmallRequestBench(b, accounts)
				}
				bench.run(b, requests)
			})
		}
	}
}

// smallRequestBench is a machine whose accounts belong to the clients in turn (account
// id-1 modulo the client count is the owner's number, from 0), and the entry it builds.
type smallRequestBench struct {
	machine   *Machine
	accounts  uint64
	timestamp uint64
	op        uint64
	numbers   [smallRequestClients * smallRequestSessionsPerClient]uint64
	nextID    uint64
	turn      uint64 // Which session sends the next request.
	random    *rand.Rand
	entry     []byte
	transfer  [model.TransferSize]byte
	out       Output
	usage     syscall.Rusage
	cpu, user int64 // Thread CPU and user times (ns) the last Apply took.
}

func newSmallRequestBench(b *testing.B, accounts uint64) *smallRequestBench {
	s := &smallRequestBench{machine: New(Config{}), accounts: accounts,
		timestamp: 1_000_000_000_000, nextID: 1, random: rand.New(rand.NewPCG(5, 6))}
	// The accounts have no balance limit, which takes a transfer grant.
	grants := make([]model.Grant, 0, smallRequestClients)
	for client := uint64(1); client <= smallRequestClients; client++ {
		grants = append(grants, model.Grant{Client: client, Scopes: model.ScopeTransfer, Ledger: 1})
	}
	s.apply(b, Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil, grants)})
	for client := uint64(1); client <= smallRequestClients; client++ {
		ids := make([]uint64, 0, model.EventsPerRequestMax)
		number := &s.numbers[(client-1)*smallRequestSessionsPerClient] // Session 1.
		for id := client; id <= accounts; id += smallRequestClients {
			ids = append(ids, id)
			if len(ids) == model.EventsPerRequestMax || id+smallRequestClients > accounts {
				*number++
				s.apply(b, Request{Client: client, Session: 1, Number: *number,
					Operation: model.OperationCreateAccounts, Body: accountsBody(ids...)})
				ids = ids[:0]
			}
		}
	}
	// Warm up: every session created, its reply cache full and its ring grown, as on a
	// server that has run for a while (the loop then allocates nothing).
	const warmupRequests = 256
	for range (sessionWindow + 1) * len(s.numbers) / warmupRequests {
		s.applyEntry(b, warmupRequests)
	}
	return s
}

// apply applies an entry of one request and checks that it succeeded.
func (s *smallRequestBench) apply(b *testing.B, request Request) {
	s.op++
	s.timestamp += 1_000_000
	entry := Entry{FirstOp: s.op, Timestamp: s.timestamp, Body: AppendRequest(nil, &request)}
	s.out.Reset()
	if err := s.machine.Apply(&entry, &s.out); err != nil {
		b.Fatal(err)
	}
	if status := s.out.Replies[0].Status; status != model.StatusOK {
		b.Fatalf("%s: %s", request.Operation, status)
	}
}

// build fills s.entry with requests one-transfer requests, the sessions in turn.
func (s *smallRequestBench) build(requests int) {
	s.entry = s.entry[:0]
	perClient := s.accounts / smallRequestClients
	for range requests {
		sessionIndex := s.turn % uint64(len(s.numbers))
		s.turn++
		client := sessionIndex%smallRequestClients + 1
		session := sessionIndex/smallRequestClients + 1
		numberIndex := (client-1)*smallRequestSessionsPerClient + session - 1
		s.numbers[numberIndex]++
		debit := client + smallRequestClients*s.random.Uint64N(perClient)
		credit := s.random.Uint64N(s.accounts-1) + 1
		if credit >= debit {
			credit++
		}
		transfer := simpleTransfer(s.nextID, debit, credit, 1)
		s.nextID++
		transfer.Encode(s.transfer[:])
		s.entry = AppendRequest(s.entry, &Request{Client: client, Session: session,
			Number: s.numbers[numberIndex], Operation: model.OperationCreateTransfers,
			Body: s.transfer[:]})
	}
}

// applyEntry builds and applies an entry of requests one-transfer requests, checks that
// every transfer was created, and leaves in s.cpu and s.user the thread's CPU and user
// times (ns) that Apply took.
func (s *smallRequestBench) applyEntry(b *testing.B, requests int) {
	s.build(requests)
	s.op++
	s.timestamp += 1_000_000
	entry := Entry{FirstOp: s.op, Timestamp: s.timestamp, Body: s.entry}
	s.op += uint64(requests) - 1
	s.out.Reset()
	start, userStart := threadcpu.Now(), threadUserTime(&s.usage)
	err := s.machine.Apply(&entry, &s.out)
	s.cpu, s.user = threadcpu.Now()-start, threadUserTime(&s.usage)-userStart
	if err != nil {
		b.Fatal(err)
	}
	for i := range s.out.Replies {
		reply := &s.out.Replies[i]
		var result model.EventResult
		result.Decode(s.out.Body(reply))
		if reply.Status != model.StatusOK || result.Status != model.StatusOK {
			b.Fatalf("request %d: %s, transfer %s", i, reply.Status, result.Status)
		}
	}
}

func (s *smallRequestBench) run(b *testing.B, requests int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	var cpu, user int64
	applied := 0
	for b.Loop() {
		s.applyEntry(b, requests)
		cpu += s.cpu
		user += s.user
		applied += requests
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(applied), "ns/request")
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(applied), "cpu-ns/request")
	}
	if user > 0 {
		b.ReportMetric(float64(user)/float64(applied), "user-ns/request")
	}
}

// rusageThread is RUSAGE_THREAD from <sys/resource.h> (Linux): the calling thread's usage.
const rusageThread = 1

// threadUserTime returns the user CPU time (ns) of the calling thread, or 0 where the
// kernel does not report it per thread. usage is the caller's (a local one would be
// allocated on each call, and the benchmark's allocs/op would count it).
func threadUserTime(usage *syscall.Rusage) int64 {
	if err := syscall.Getrusage(rusageThread, usage); err != nil {
		return 0
	}
	return usage.Utime.Nano()
}
