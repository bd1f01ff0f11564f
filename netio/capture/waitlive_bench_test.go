package capture

import (
	"errors"
	"runtime"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/bench/threadcpu"
)

// answeredFuture is a message in flight whose acknowledgement (or error) has arrived.
type answeredFuture struct {
	ok  chan *jetstream.PubAck
	err chan error
}

func (f *answeredFuture) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *answeredFuture) Err() <-chan error            { return f.err }
func (f *answeredFuture) Msg() *nats.Msg               { return nil }

var errBenchEnd = errors.New("end of the benchmark's messages")

// BenchmarkWaitLive measures one pass of the live publisher's wait per acknowledgement
// taken (waitLive under load: every message in flight is acknowledged in turn), without
// NATS: the acknowledgements have all arrived. cpu-ns/ack is the benchmark thread's CPU
// time (bench/threadcpu).
//
//	go test ./netio/capture -run '^$' -bench WaitLive -benchmem
func BenchmarkWaitLive(b *testing.B) {
	c := New(Config{Released: func() uint64 { return 0 }})
	c.lost = false // A live session's queue: open, empty.
	c.inflight = make([]pendingAck, 0, b.N+1)
	for i := range b.N {
		future := &answeredFuture{ok: make(chan *jetstream.PubAck, 1)}
		future.ok <- &jetstream.PubAck{Sequence: uint64(i + 1)}
		c.inflight = append(c.inflight, pendingAck{future: future,
			at: position{op: uint64(i + 1)}, expected: uint64(i)})
	}
	end := &answeredFuture{err: make(chan error, 1)}
	end.err <- errBenchEnd
	c.inflight = append(c.inflight, pendingAck{future: end})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	if err := c.waitLive(); !errors.Is(err, errBenchEnd) {
		b.Fatal(err)
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/ack")
	}
}
