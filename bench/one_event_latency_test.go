package bench

import (
	"math/rand/v2"
	"testing"
)

// TestOneEventLatenciesCountInBothHistograms checks that a request of one event, which
// a recorder records once (sample.oneEventLatency) rather than into both histograms,
// reaches the merged sample's per-request and per-event histograms exactly as requests
// of several events do: the merged histograms equal ones recorded directly, and a
// sample reset and reused holds nothing of before.
func TestOneEventLatenciesCountInBothHistograms(t *testing.T) {
	recorded := newSample()
	requests, events := newHistogram(), newHistogram()
	random := rand.New(rand.NewPCG(53, 53))
	record := func(count int) {
		for i := range count {
			latencyNs := int64(random.ExpFloat64() * 300e3)
			n := 1 + i%3*(i%2) // 1, 2, 1, 1, 1, 3, ...: mostly one event.
			recorded.recordLatency(latencyNs, n)
			_ = requests.RecordValue(latencyNs)
			_ = events.RecordValues(latencyNs, int64(n))
		}
	}
	record(100) // Recorded, then reset: none of it may remain.
	recorded.reset()
	requests.Reset()
	events.Reset()
	record(5000)
	if recorded.oneEventLatency.TotalCount() == 0 {
		t.Fatal("no request of one event recorded on its own")
	}
	total := newSample()
	total.merge(recorded)
	if !total.requestLatency.Equals(requests) || !total.eventLatency.Equals(events) {
		t.Fatalf("merged: %d requests, %d events; recorded directly: %d, %d",
			total.requestLatency.TotalCount(), total.eventLatency.TotalCount(),
			requests.TotalCount(), events.TotalCount())
	}
	if total.oneEventLatency.TotalCount() != 0 {
		t.Fatal("the merged sample keeps requests of one event apart")
	}
	again := newSample() // A merged sample merged again (the collector's total).
	again.merge(total)
	if !again.requestLatency.Equals(requests) || !again.eventLatency.Equals(events) {
		t.Fatal("a merged sample merged again differs")
	}
}
