package ops

import (
	"sort"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// requestDurationBucketsMicroseconds are the upper bounds of
// sequent_request_duration_seconds: from 50 µs (a read on an idle node) to 10 s (a
// stalled disk), about three a decade, so histogram_quantile interpolates within a factor
// of 2.5 at most. Kept in whole microseconds, the histograms' unit, so that a value on a
// bound is compared exactly.
var requestDurationBucketsMicroseconds = [...]int64{50, 100, 250, 500, 1_000, 2_500, 5_000,
	10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
	10_000_000}

// latencyHistogramCollector exposes the shard's cumulative request latency histograms
// (ConsoleSources.LatencyHistograms) as a Prometheus histogram per operation. The
// summaries of the snapshot give quantiles over the whole uptime; buckets give
// Prometheus what it needs for the quantiles of any window:
// histogram_quantile(0.99, sum by (le) (rate(sequent_request_duration_seconds_bucket[5m]))).
// It keeps nothing between scrapes.
type latencyHistogramCollector struct {
	histograms func() map[string]*hdrhistogram.Snapshot
	desc       *prometheus.Desc
}

var _ prometheus.Collector = (*latencyHistogramCollector)(nil)

func newLatencyHistogramCollector(histograms func() map[string]*hdrhistogram.Snapshot,
) *latencyHistogramCollector {
	return &latencyHistogramCollector{histograms: histograms,
		desc: prometheus.NewDesc("sequent_request_duration_seconds",
			"Time from a client request's arrival at the server to its reply leaving, by "+
				"operation (buckets from the shard's HdrHistograms, values rounded up by at "+
				"most 1%).", []string{"operation"}, nil)}
}

// Describe sends the one descriptor.
func (c *latencyHistogramCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends one histogram per operation seen.
func (c *latencyHistogramCollector) Collect(ch chan<- prometheus.Metric) {
	for operation, snapshot := range c.histograms() {
		count, sum, buckets := durationBuckets(hdrhistogram.Import(snapshot))
		metric, err := prometheus.NewConstHistogram(c.desc, count, sum, buckets, operation)
		if err != nil {
			metric = prometheus.NewInvalidMetric(c.desc, err)
		}
		ch <- metric
	}
}

// durationBuckets converts a histogram of microseconds into the count, the sum in
// seconds and the cumulative counts at each bucket bound. A value is counted in the first
// bucket whose bound is at or above the top of its HdrHistogram bucket, so no value is
// counted below its true bucket.
func durationBuckets(h *hdrhistogram.Histogram) (uint64, float64, map[float64]uint64) {
	bounds := requestDurationBucketsMicroseconds[:]
	perBucket := make([]uint64, len(bounds))
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		index := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= bar.To })
		if index < len(perBucket) {
			perBucket[index] += uint64(bar.Count)
		} // Beyond the last bound: only in the count (the +Inf bucket).
	}
	buckets := make(map[float64]uint64, len(perBucket))
	cumulative := uint64(0)
	for i, bound := range bounds {
		cumulative += perBucket[i]
		buckets[float64(bound)/1e6] = cumulative
	}
	count := uint64(h.TotalCount())
	return count, h.Mean() * float64(count) * secondsPerMicrosecond, buckets
}
