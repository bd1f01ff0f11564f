package client

import (
	"context"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkFullBatchCall: one full create_transfers request (8,189 transfers, a 1 MiB
// frame) at a time through one client against the fake shard over loopback. The
// transfers have id 0, so the shard refuses each at once and the figure is the
// client's and the network layer's. cpu-ns/call is the caller's thread: building and
// writing the frame (the wait for the reply sleeps).
func BenchmarkFullBatchCall(b *testing.B) {
	s := startTestServer(b)
	c := s.dial(b, nil)
	ctx := context.Background()
	body := make([]byte, model.RequestBodyBytesMax)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	for range b.N {
		if _, err := c.Do(ctx, model.OperationCreateTransfers, 0, body); err != nil {
			b.Fatal(err)
		}
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
	}
}
