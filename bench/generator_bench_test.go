package bench

import (
	"testing"

	"sequent/core/model"
)

// BenchmarkGenerator measures the generator's own cost per event (build and settle of a
// full request of single-phase transfers), which shares the machine with an embedded
// server: it bounds how much of a core the load generator takes at a given rate.
func BenchmarkGenerator(b *testing.B) {
	config := Config{Addresses: []string{"x"}, Events: EventsMax, Count: 1}.WithDefaults()
	r := newRun(config)
	w := newWorker(0, r, nil, &recorder{interval: newSample()})
	s := &w.slots[0]
	s.kind = KindSingle
	body := make([]byte, config.Events*model.EventResultSize) // All ok.
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.buildSingle(s)
		w.settleTransfers(body, s, w.recorder.interval)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*config.Events), "ns/event")
}
