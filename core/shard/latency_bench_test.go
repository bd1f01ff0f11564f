package shard

import (
	"testing"

	"sequent/core/model"
)

// BenchmarkLatencyRecord is what the sequencer spends per released client request on its
// bookkeeping of latency and status (latencyRecorder.record, under the mutex taken once
// per release): one-transfer replies, ok, at latencies spread over the histogram. The
// instruction count per call (callgrind, --toggle-collect='*latencyRecorder).record') is
// the reliable figure on a shared host.
func BenchmarkLatencyRecord(b *testing.B) {
	var r latencyRecorder
	r.lock()
	defer r.unlock()
	r.record(model.OperationCreateTransfers, model.StatusOK, 1) // Create the histogram.
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.record(model.OperationCreateTransfers, model.StatusOK, int64(i&0xfffff)*1000)
	}
}
