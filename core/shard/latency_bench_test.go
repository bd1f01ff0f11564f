package shard

import (
	"testing"

	"sequent/core/model"
)

// BenchmarkLatencyRecord is what the sequencer spends per released client request on its
// bookkeeping of latency and status (latencyRecorder.record, under the mutex taken once
// per release): one-transfer replies, ok, at latencies spread over the histogram, every
// one different from the one before. The instruction count per call (callgrind,
// --toggle-collect='sequent/core/shard.benchmarkLatencyRecord', the helper both run) is
// the reliable figure on a shared host.
func BenchmarkLatencyRecord(b *testing.B) { benchmarkLatencyRecord(b, 1) }

// BenchmarkLatencyRecordRuns is BenchmarkLatencyRecord with the latencies a loaded
// server releases: runs of 16 equal values, since a release reads the clock once and the
// event loop stamps every request of one socket read with one reading (16 per run on
// average at 32 connections × 16 in flight, counted in a throwaway build in session 45).
func BenchmarkLatencyRecordRuns(b *testing.B) { benchmarkLatencyRecord(b, 16) }

// benchmarkLatencyRecord records b.N requests, one op each, in runs of runRequests equal
// latencies; the runs reach the histogram when the value changes and at the unlock that
// ends the benchmark.
func benchmarkLatencyRecord(b *testing.B, runRequests int) {
	var r latencyRecorder
	r.lock()
	defer r.unlock()
	r.record(model.OperationCreateTransfers, model.StatusOK, 1) // Create the histogram.
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.record(model.OperationCreateTransfers, model.StatusOK,
			int64(i/runRequests&0xfffff)*1000)
	}
}
