package shard

import (
	"slices"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// signallingReplier hands each delivered batch's arrival to the waiting client goroutine,
// as the network layer's AsyncWrite wakes a connection's event loop.
type signallingReplier struct{ arrived chan struct{} }

func (r *signallingReplier) Deliver([]backend.Reply) { r.arrived <- struct{}{} }

func (r *signallingReplier) DeliverReports([]backend.Report) {}

// BenchmarkOneRequestAtATime is one client with one request in flight against a shard on
// a real log (fdatasync every group): Submit, then wait for the reply. It shows the
// shard's part of the one-client latency (issue 15: the hand-offs between goroutines);
// run it with -trace to count the goroutine wake-ups per request.
func BenchmarkOneRequestAtATime(b *testing.B) {
	log, err := wal.Open(wal.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), log)
	if err != nil {
		b.Fatal(err)
	}
	replier := &signallingReplier{arrived: make(chan struct{}, 1)}
	s.Start(RepliesOnly(replier))
	defer s.Close()
	durations := make([]time.Duration, 0, 1<<16)
	id := uint64(0)
	for b.Loop() {
		id++
		started := time.Now()
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: id,
			Operation: model.OperationCreateAccounts, Body: accountsBody(id)}); status != model.StatusOK {
			b.Fatalf("submit: %s", status)
		}
		<-replier.arrived
		durations = append(durations, time.Since(started))
	}
	stats := log.Stats()
	b.ReportMetric(float64(stats.InlineGroups)/float64(max(stats.Groups, 1)), "inline-groups/group")
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
}
