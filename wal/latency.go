package wal

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Write and fdatasync durations in microseconds, 1 µs to 60 s, 2 significant digits.
const (
	latencyMicrosecondsMin   = 1
	latencyMicrosecondsMax   = 60_000_000
	latencySignificantDigits = 2
)

// latencies records the writer's write (pwritev) and fdatasync durations, and the
// encoders' encoding of each large entry (compression, CRC32C and SHA-256 of its body).
// They record under the mutex (once per group commit, once per large entry); Latencies
// and EncodeLatency read.
type latencies struct {
	mutex  sync.Mutex
	write  *hdrhistogram.Histogram
	sync   *hdrhistogram.Histogram
	encode *hdrhistogram.Histogram
}

func (l *latencies) record(histogram **hdrhistogram.Histogram, duration time.Duration) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if *histogram == nil {
		*histogram = hdrhistogram.New(latencyMicrosecondsMin, latencyMicrosecondsMax,
			latencySignificantDigits)
	}
	microseconds := min(max(duration.Microseconds(), latencyMicrosecondsMin), latencyMicrosecondsMax)
	(*histogram).RecordValue(microseconds)
}

// LatencyQuantiles is a duration distribution in microseconds.
type LatencyQuantiles struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50_us"`
	P90   int64 `json:"p90_us"`
	P99   int64 `json:"p99_us"`
	P999  int64 `json:"p999_us"`
	Max   int64 `json:"max_us"`
	// Mean is the mean duration (Mean × Count is the total, a Prometheus summary's sum).
	Mean float64 `json:"mean_us"`
}

func quantilesOf(h *hdrhistogram.Histogram) LatencyQuantiles {
	if h == nil {
		return LatencyQuantiles{}
	}
	return LatencyQuantiles{Count: h.TotalCount(), P50: h.ValueAtQuantile(50),
		P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9),
		Max: h.Max(), Mean: h.Mean()}
}

// Latencies returns the distributions of group-commit write and fdatasync durations since
// Open. Any goroutine.
func (l *Log) Latencies() (write, sync LatencyQuantiles) {
	l.latencies.mutex.Lock()
	defer l.latencies.mutex.Unlock()
	return quantilesOf(l.latencies.write), quantilesOf(l.latencies.sync)
}

// EncodeLatency returns the distribution of the time an encoder goroutine took to encode
// one entry since Open (compression if it pays, CRC32C and SHA-256 of the stored body):
// entries with bodies above encodeInlineBytesMax (64 KiB, a full batch's is 1 MiB) only,
// since the writer encodes smaller ones itself, uncounted, as part of its write. A large
// entry's encoding runs beside the sequencer's apply, and its write and fdatasync follow
// it: encoding, write and sync together are the log's part of its latency. Any goroutine.
func (l *Log) EncodeLatency() LatencyQuantiles {
	l.latencies.mutex.Lock()
	defer l.latencies.mutex.Unlock()
	return quantilesOf(l.latencies.encode)
}
