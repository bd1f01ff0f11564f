package shard

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkRingPushSmall measures a network loop's push of one-transfer requests while
// the sequencer takes them on another thread, as under `sequent bench --events 1`: the
// two threads share the ring's mutex, whose cache line moves between the cores at every
// acquisition. cpu-ns/push is the pushing thread's own CPU time per request. In
// unstamped, the push reads the clock for the request's receive time; in stamped, the
// request carries it (backend.Request.Received, as the network loop stamps every request
// of one read after one clock read), and the push reads no clock.
func BenchmarkRingPushSmall(b *testing.B) {
	b.Run("unstamped", func(b *testing.B) { benchmarkRingPushSmall(b, time.Time{}) })
	b.Run("stamped", func(b *testing.B) { benchmarkRingPushSmall(b, time.Now()) })
}

func benchmarkRingPushSmall(b *testing.B, received time.Time) {
	const takeMax = 256 // Requests the consumer takes at once, about an entry's worth.
	ring := newInputRing(RingBytesDefault, RingRequestsDefault)
	request := ringProducerRequest(1, 1, model.TransferSize)
	request.Received = received
	var done atomic.Bool
	var consumer sync.WaitGroup
	consumer.Go(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		taken := make([]requestMeta, 0, takeMax)
		for !done.Load() {
			taken, _ = ring.take(taken[:0], takeMax, EntryBytesMaxDefault)
			if len(taken) == 0 {
				runtime.Gosched()
				continue
			}
			ring.release(&taken[len(taken)-1])
		}
	})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	busy := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := threadcpu.Now()
	for range b.N {
		for ring.push(request, true) != model.StatusOK {
			busy++
			runtime.Gosched()
		}
	}
	cpu := threadcpu.Now() - start
	b.StopTimer()
	done.Store(true)
	consumer.Wait()
	if threadcpu.Supported {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/push")
	}
	b.ReportMetric(float64(busy)/float64(b.N), "busy/push")
}
