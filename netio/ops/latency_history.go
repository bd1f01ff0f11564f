package ops

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// LatencyHistory is /v1/latency's body: the request latency of every operation together,
// interval by interval, over the last few minutes (oldest first). The snapshot's
// summaries (RequestLatencyUs, /metrics) cover the whole uptime, so a slow minute hardly
// moves them after a day; these are the latencies of each interval alone.
type LatencyHistory struct {
	// IntervalSeconds is the length of each sample's interval.
	IntervalSeconds float64 `json:"interval_seconds"`
	// WindowSeconds is the time the samples cover once the history is full.
	WindowSeconds float64 `json:"window_seconds"`
	// Samples are the intervals, oldest first; at most latencySamplesMax.
	Samples []LatencySample `json:"samples"`
}

// LatencySample is the latency of the requests released in one interval, in µs (the
// percentiles are 0 when Requests is 0).
type LatencySample struct {
	// TimeUnixMs is the interval's end (Unix time in milliseconds).
	TimeUnixMs int64 `json:"time_unix_ms"`
	// Requests is the number of requests released in the interval.
	Requests uint64 `json:"requests"`
	// P50Us to P999Us are the interval's percentiles, MaxUs its largest latency.
	P50Us  int64 `json:"p50_us"`
	P90Us  int64 `json:"p90_us"`
	P99Us  int64 `json:"p99_us"`
	P999Us int64 `json:"p999_us"`
	MaxUs  int64 `json:"max_us"`
}

// latencyHistory turns cumulative per-operation histograms into per-interval samples by
// difference. Its sampler goroutine (run) owns previous; the mutex guards the samples,
// which handlers read.
type latencyHistory struct {
	source   func() map[string]*hdrhistogram.Snapshot
	previous map[string]*hdrhistogram.Snapshot // Sampler goroutine only; nil before the first.
	mutex    sync.Mutex
	samples  []LatencySample // Ring of latencySamplesMax; next is the oldest once full.
	next     int
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newLatencyHistory(source func() map[string]*hdrhistogram.Snapshot) *latencyHistory {
	return &latencyHistory{source: source, samples: make([]LatencySample, 0, latencySamplesMax),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// run samples every latencySampleInterval until close.
func (h *latencyHistory) run() {
	defer close(h.done)
	ticker := time.NewTicker(latencySampleInterval)
	defer ticker.Stop()
	h.sample(time.Now())
	for {
		select {
		case <-h.stop:
			return
		case now := <-ticker.C:
			h.sample(now)
		}
	}
}

// close stops the sampler and waits for it; a second close returns at once.
func (h *latencyHistory) close() {
	h.stopOnce.Do(func() {
		close(h.stop)
		<-h.done
	})
}

// sample records the interval since the previous call. The first call only takes the
// baseline: the counts before it cover the whole uptime, not one interval.
func (h *latencyHistory) sample(now time.Time) {
	current := h.source()
	previous := h.previous
	h.previous = current
	if previous == nil {
		return
	}
	h.add(intervalSample(now, previous, current))
}

func (h *latencyHistory) add(sample LatencySample) {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	if len(h.samples) < latencySamplesMax {
		h.samples = append(h.samples, sample)
		return
	}
	h.samples[h.next] = sample
	h.next = (h.next + 1) % latencySamplesMax
}

// history returns the samples, oldest first.
func (h *latencyHistory) history() LatencyHistory {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	samples := make([]LatencySample, 0, len(h.samples))
	samples = append(samples, h.samples[h.next:]...)
	samples = append(samples, h.samples[:h.next]...)
	return LatencyHistory{IntervalSeconds: latencySampleInterval.Seconds(),
		WindowSeconds: latencySampleInterval.Seconds() * latencySamplesMax, Samples: samples}
}

// intervalSample merges, over every operation, the counts current has beyond previous
// into one histogram and summarizes it. An operation absent from previous was first seen
// in this interval, so all its counts are new. One whose shape changed (it cannot, the
// shard creates them all alike) is skipped rather than misread.
func intervalSample(now time.Time, previous, current map[string]*hdrhistogram.Snapshot,
) LatencySample {
	var merged *hdrhistogram.Histogram
	for operation, snapshot := range current {
		difference, ok := subtract(snapshot, previous[operation])
		if !ok {
			continue
		}
		histogram := hdrhistogram.Import(difference)
		if merged == nil {
			merged = histogram
		} else {
			merged.Merge(histogram)
		}
	}
	sample := LatencySample{TimeUnixMs: now.UnixMilli()}
	if merged == nil || merged.TotalCount() == 0 {
		return sample
	}
	sample.Requests = uint64(merged.TotalCount())
	sample.P50Us, sample.P90Us = merged.ValueAtQuantile(50), merged.ValueAtQuantile(90)
	sample.P99Us, sample.P999Us = merged.ValueAtQuantile(99), merged.ValueAtQuantile(99.9)
	sample.MaxUs = merged.Max()
	return sample
}

// subtract returns current's counts minus previous's (nil previous: all of current).
// It reports false when the two differ in shape or a count went down (not the same
// cumulative histogram).
func subtract(current, previous *hdrhistogram.Snapshot) (*hdrhistogram.Snapshot, bool) {
	if previous == nil {
		return current, true
	}
	if previous.LowestTrackableValue != current.LowestTrackableValue ||
		previous.HighestTrackableValue != current.HighestTrackableValue ||
		previous.SignificantFigures != current.SignificantFigures ||
		len(previous.Counts) != len(current.Counts) {
		return nil, false
	}
	counts := make([]int64, len(current.Counts))
	for i, count := range current.Counts {
		if count < previous.Counts[i] {
			return nil, false
		}
		counts[i] = count - previous.Counts[i]
	}
	return &hdrhistogram.Snapshot{LowestTrackableValue: current.LowestTrackableValue,
		HighestTrackableValue: current.HighestTrackableValue,
		SignificantFigures:    current.SignificantFigures, Counts: counts}, true
}
