package shard

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// durabilityReplier checks, at each delivery, that a write's reply leaves only once its
// op is durable in log, and records the highest op replied ok.
type durabilityReplier struct {
	t        *testing.T
	log      *wal.Log
	mutex    sync.Mutex
	okOpLast uint64
	replies  int
	answered map[uint64]int // Replies per connection.
	arrived  *sync.Cond     // Broadcast at each delivery.
}

func newDurabilityReplier(t *testing.T, log *wal.Log) *durabilityReplier {
	replier := &durabilityReplier{t: t, log: log, answered: map[uint64]int{}}
	replier.arrived = sync.NewCond(&replier.mutex)
	return replier
}

// waitAnswered waits until connection has n replies (a hang is reported by the test
// binary's timeout).
func (r *durabilityReplier) waitAnswered(connection uint64, n int) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	for r.answered[connection] < n {
		r.arrived.Wait()
	}
}

func (r *durabilityReplier) Deliver(replies []backend.Reply) {
	durable := r.log.Durable()
	r.mutex.Lock()
	defer r.mutex.Unlock()
	defer r.arrived.Broadcast()
	for _, reply := range replies {
		r.replies++
		r.answered[reply.Connection]++
		if reply.Op > durable {
			r.t.Errorf("reply for op %d left with Durable at %d", reply.Op, durable)
		}
		if reply.Status == model.StatusOK {
			r.okOpLast = max(r.okOpLast, reply.Op)
		}
	}
}

func (r *durabilityReplier) DeliverReports([]backend.Report) {}

// TestDeferredShardStress runs a sequencer on a real log with a two-slot pipeline, small
// segments (rollovers) and pulses, one client at a time and then several at once, so
// that the sequencer's own group commits (WriteDeferred) and the writer's interleave;
// then it closes the shard with requests still arriving. Every reply must leave only
// once its op is durable, and the reopened log must hold every op replied ok.
func TestDeferredShardStress(t *testing.T) {
	dir := t.TempDir()
	options := wal.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), PipelineDepth: 2,
		SegmentBytes: wal.SegmentBytesMin}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	replier := newDurabilityReplier(t, log)
	s, err := New(Config{PulseInterval: time.Millisecond}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(replier))
	const clients, perClient = 3, 150
	var group sync.WaitGroup
	for client := range clients {
		group.Go(func() {
			for i := range perClient {
				id := uint64(1 + client*perClient + i)
				submitAccountWhileBusy(s, uint64(1+client), uint64(i+1), id)
				if client == 0 { // One request at a time: the inline path when alone.
					replier.waitAnswered(1, i+1)
				} else { // Now and then, so that the two paths interleave.
					time.Sleep(time.Duration(id%5) * 100 * time.Microsecond)
				}
			}
		})
	}
	group.Wait()
	stats := log.Stats()
	t.Logf("log: %d groups, %d written by the sequencer, %d rolls", stats.Groups,
		stats.InlineGroups, stats.Rolls)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	log, err = wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	replier.mutex.Lock()
	defer replier.mutex.Unlock()
	if replier.okOpLast == 0 || log.LastOp() < replier.okOpLast {
		t.Fatalf("reopened log ends at op %d; op %d was replied ok (%d replies)", log.LastOp(),
			replier.okOpLast, replier.replies)
	}
}
