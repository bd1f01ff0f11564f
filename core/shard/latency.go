package shard

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
)

// processStart anchors monotonicNow: time.Since reads the monotonic clock.
var processStart = time.Now()

// monotonicNow returns nanoseconds since the process started, from the monotonic clock.
func monotonicNow() int64 { return int64(time.Since(processStart)) }

// Latency histograms: microseconds from 1 µs to 60 s at 2 significant digits (1% error),
// about 20 KiB each.
const (
	latencyMicrosecondsMin   = 1
	latencyMicrosecondsMax   = 60_000_000
	latencySignificantDigits = 2
	// batchRequestsMax bounds the batch-size histogram (requests per entry).
	batchRequestsMax = 1 << 20
	// statusesCountedDirectMax: statuses below it are counted in an array indexed by the
	// status (every request-level status a release records is below 256; the per-event
	// codes such as the risk rules' 300s never reach record), the rest in a map. A
	// map increment per released request was ~90 of the ~200 instructions record spent
	// per request (callgrind, BenchmarkLatencyRecord).
	statusesCountedDirectMax = 256
)

// latencyRecorder keeps, per operation, the time from receipt (backend.Request.Received,
// or Submit when the request has no stamp) to release of every request (what a client
// waits for, minus the network), and counts result statuses. The
// sequencer records (holding the mutex once per release); Latencies reads.
//
// A release records every reply of an entry at one clock reading, and the event loop
// stamps every request of one socket read with one, so neighbouring replies often have
// the same latency to the nanosecond: record counts such a run (run*) and adds it to
// the histogram once, when a different value comes or the mutex is released (unlock),
// so that a reader, which takes the mutex, sees every release recorded.
type latencyRecorder struct {
	mutex      sync.Mutex
	operations [256]*hdrhistogram.Histogram // Lazily created per operation.
	// The run of equal latencies not yet in the histogram: runCount requests of
	// runOperation, runNanoseconds each.
	runOperation   model.Operation
	runNanoseconds int64
	runCount       int64
	// Request-level statuses released: below statusesCountedDirectMax in statusesDirect,
	// the others (none the model defines today) in statusesOther.
	statusesDirect [statusesCountedDirectMax]uint64
	statusesOther  map[model.Status]uint64
	batches        *hdrhistogram.Histogram // Requests per log entry.
	applies        *hdrhistogram.Histogram // Microseconds the machine took per entry.
}

// recordBatch adds one entry's request count and the time the machine took to apply it.
// The apply is the sequencer's part of a request's latency; the log's part (encoding,
// write, fdatasync) runs beside it, and the later of the two sets the release.
func (r *latencyRecorder) recordBatch(requests int, applyNanoseconds int64) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	if r.batches == nil {
		r.batches = hdrhistogram.New(1, batchRequestsMax, latencySignificantDigits)
		r.applies = hdrhistogram.New(latencyMicrosecondsMin, latencyMicrosecondsMax,
			latencySignificantDigits)
	}
	r.batches.RecordValue(min(int64(requests), batchRequestsMax))
	r.applies.RecordValue(min(max(applyNanoseconds/1000, latencyMicrosecondsMin),
		latencyMicrosecondsMax))
}

// BatchRequests returns the distribution of requests per log entry since start.
func (s *Shard) BatchRequests() LatencySummary {
	s.latencies.lock()
	defer s.latencies.unlock()
	if s.latencies.batches == nil {
		return LatencySummary{}
	}
	return Summarize(s.latencies.batches)
}

// ApplyLatency returns the distribution of the time the machine took to apply one log
// entry, in microseconds, since start: the sequencer's share of a write's latency, to
// set beside the log's encoding, write and fdatasync (wal.Log.EncodeLatency, Latencies).
func (s *Shard) ApplyLatency() LatencySummary {
	s.latencies.lock()
	defer s.latencies.unlock()
	if s.latencies.applies == nil {
		return LatencySummary{}
	}
	return Summarize(s.latencies.applies)
}

// EventStatusCounts returns per-event result counts by status name. Any goroutine.
func (s *Shard) EventStatusCounts() map[string]uint64 { return s.machine.EventStatusCounts() }

func (r *latencyRecorder) lock() { r.mutex.Lock() }

// unlock adds the pending run to its histogram and releases the mutex.
func (r *latencyRecorder) unlock() {
	if r.runCount > 0 {
		r.flushRun()
	}
	r.mutex.Unlock()
}

// record adds one release. The caller holds the lock.
func (r *latencyRecorder) record(operation model.Operation, status model.Status, nanoseconds int64) {
	if r.runCount > 0 && (nanoseconds != r.runNanoseconds || operation != r.runOperation) {
		r.flushRun()
	}
	r.runOperation, r.runNanoseconds = operation, nanoseconds
	r.runCount++
	if status < statusesCountedDirectMax {
		r.statusesDirect[status]++
		return
	}
	if r.statusesOther == nil {
		r.statusesOther = map[model.Status]uint64{}
	}
	r.statusesOther[status]++
}

// flushRun adds the pending run of equal latencies to its operation's histogram. The
// caller holds the lock.
func (r *latencyRecorder) flushRun() {
	histogram := r.operations[r.runOperation]
	if histogram == nil {
		histogram = hdrhistogram.New(latencyMicrosecondsMin, latencyMicrosecondsMax,
			latencySignificantDigits)
		r.operations[r.runOperation] = histogram
	}
	microseconds := min(max(r.runNanoseconds/1000, latencyMicrosecondsMin),
		latencyMicrosecondsMax)
	histogram.RecordValues(microseconds, r.runCount) // In range by construction.
	r.runCount = 0
}

// LatencySummary is a latency distribution in microseconds.
type LatencySummary struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50"`
	P90   int64 `json:"p90"`
	P99   int64 `json:"p99"`
	P999  int64 `json:"p999"`
	P9999 int64 `json:"p9999"`
	Max   int64 `json:"max"`
	// Mean is the mean of the recorded values (so Mean × Count is their sum, which a
	// Prometheus summary needs for a windowed mean: rate(sum) / rate(count)).
	Mean float64 `json:"mean"`
}

// Summarize returns a histogram's quantiles.
func Summarize(h *hdrhistogram.Histogram) LatencySummary {
	return LatencySummary{Count: h.TotalCount(), P50: h.ValueAtQuantile(50),
		P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9),
		P9999: h.ValueAtQuantile(99.99), Max: h.Max(), Mean: h.Mean()}
}

// LatencyHistograms returns a copy of each operation's latency histogram (µs, receipt
// (backend.Request.Received, else Submit) to release, since the shard started), by
// operation name. The copies are cumulative, so a reader that keeps the previous ones
// gets the latencies of an interval by difference (the operators' console does, for its
// recent-percentiles chart). It costs one copy of ~20 KiB per operation seen, under the
// mutex the sequencer takes once per release: call it every few seconds, not per
// request. Any goroutine.
func (s *Shard) LatencyHistograms() map[string]*hdrhistogram.Snapshot {
	r := &s.latencies
	r.lock()
	defer r.unlock()
	histograms := map[string]*hdrhistogram.Snapshot{}
	for operation, histogram := range r.operations {
		if histogram != nil {
			histograms[model.Operation(operation).String()] = histogram.Export()
		}
	}
	return histograms
}

// Latencies returns, per operation name, the distribution of receipt-to-release latency
// (from backend.Request.Received, else from Submit) since the shard started, and the
// count of each request-level status released. Any goroutine.
func (s *Shard) Latencies() (map[string]LatencySummary, map[string]uint64) {
	r := &s.latencies
	r.lock()
	defer r.unlock()
	latencies := map[string]LatencySummary{}
	for operation, histogram := range r.operations {
		if histogram != nil {
			latencies[model.Operation(operation).String()] = Summarize(histogram)
		}
	}
	statuses := map[string]uint64{}
	for status, count := range r.statusesDirect {
		if count != 0 {
			statuses[model.Status(status).String()] = count
		}
	}
	for status, count := range r.statusesOther {
		statuses[status.String()] = count
	}
	return latencies, statuses
}
