package bench

import (
	"math/rand/v2"
	"runtime/metrics"
	"testing"
	"time"
)

// TestReview51RecordersMergeExactly checks (review of callers51) that spreading one
// connection's callers over several recorders (recordersOf) loses nothing and counts
// nothing twice: the same completions, warm-up sends and measured sends recorded into one
// recorder or spread over 16, and collected at two interval boundaries (a recorder
// written to between them), give the collector the same counts and the same
// histograms, so the same quantiles.
func TestReview51RecordersMergeExactly(t *testing.T) {
	totals := make([]*sample, 0, 2)
	for _, count := range []int{1, 16} {
		r := &run{config: Config{Warmup: time.Second}, start: time.Now()}
		recorders := make([]*recorder, count)
		for i := range recorders {
			recorders[i] = &recorder{interval: newSample()}
		}
		c := newCollector(r, recorders)
		random := rand.New(rand.NewPCG(51, 51))
		for i := range 20000 {
			if i == 7000 {
				c.collect(false)
			}
			rec := recorders[i%count]
			rec.mu.Lock()
			s := &slot{measured: i%5 != 0, events: 1 + i%3}
			countSentLocked(rec.interval, s)
			if s.measured {
				rec.interval.recordLatency(int64(random.ExpFloat64()*200e3), s.events)
				rec.interval.requestsCompleted++
			}
			rec.mu.Unlock()
		}
		c.collect(false)
		totals = append(totals, c.total)
	}
	one, spread := totals[0], totals[1]
	if one.requestsSent != 16000 || one.warmRequests != 4000 ||
		one.requestLatency.TotalCount() != 16000 {
		t.Fatalf("one recorder: sent %d, warm %d, latencies %d; want 16000, 4000, 16000",
			one.requestsSent, one.warmRequests, one.requestLatency.TotalCount())
	}
	if one.requestsSent != spread.requestsSent || one.warmRequests != spread.warmRequests ||
		one.eventsSent != spread.eventsSent || one.warmEvents != spread.warmEvents ||
		one.requestsCompleted != spread.requestsCompleted {
		t.Fatalf("counts differ: one recorder %+v, 16 recorders %+v", one, spread)
	}
	if !one.requestLatency.Equals(spread.requestLatency) ||
		!one.eventLatency.Equals(spread.eventLatency) {
		t.Fatal("the merged histograms of 16 recorders differ from one recorder's")
	}
	for _, q := range []float64{50, 90, 99, 99.9, 100} {
		a, b := one.requestLatency.ValueAtQuantile(q), spread.requestLatency.ValueAtQuantile(q)
		if a != b {
			t.Errorf("p%v: one recorder %d ns, 16 recorders %d ns", q, a, b)
		}
	}
}

// TestReview51RunnableWaitBuckets checks (review of callers51) what bench/README.md says
// of runnable_wait_us on this runtime: each quantile is a bucket's upper bound, at most
// 25% above its lower bound from 1 µs up (the runtime's time histogram has four buckets
// per power of two), and microseconds (the metric is in seconds).
func TestReview51RunnableWaitBuckets(t *testing.T) {
	end := readCPUMark().runnableWait
	if end == nil {
		t.Skip("no /sched/latencies:seconds on this runtime")
	}
	for i := 1; i+1 < len(end.Buckets); i++ {
		lower, upper := end.Buckets[i], end.Buckets[i+1]
		if lower >= 1e-6 && upper < 1e300 && upper > lower*1.25 {
			t.Fatalf("bucket [%g, %g) s is more than 25%% wide", lower, upper)
		}
	}
	start := &metrics.Float64Histogram{Buckets: end.Buckets, Counts: make([]uint64, len(end.Counts))}
	one := &metrics.Float64Histogram{Buckets: end.Buckets, Counts: make([]uint64, len(end.Counts))}
	for i, bound := range end.Buckets {
		if bound >= 300e-6 { // A wait of 300 µs is in the bucket below this bound.
			one.Counts[i-1] = 1
			got := waitQuantiles(start, one)
			if got == nil || got.P50 != bound*1e6 || got.P50 < 300 || got.P50 > 375 {
				t.Fatalf("one wait of 300 µs: %+v, want %g µs (its bucket's upper bound)",
					got, bound*1e6)
			}
			break
		}
	}
}
