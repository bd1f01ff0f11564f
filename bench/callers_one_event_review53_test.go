package bench

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestReview53OneEventCallersEndToEnd checks (review of callers53) the one-event caller
// (oneEventCaller: worker, buffers and random source in one allocation) and the
// one-event latency recorded once (sample.oneEventLatency) against a server, which no
// test ran: TestCallersCountsAddUp runs two events per call and the build test no client.
// For each transfer workload, with the client's merging on and off: every call counted
// once, every transfer accounted for, the request and event histograms holding every
// completed call once, and equal (one event per request), in the report and, per
// interval, in the interval log.
func TestReview53OneEventCallersEndToEnd(t *testing.T) {
	h := newHarness(t, lieNone)
	for i, mix := range []string{"single", "two-phase", "single=1,two-phase=1"} {
		for _, coalesce := range []int{0, -1} {
			t.Run(fmt.Sprintf("%s/coalesce=%d", mix, coalesce), func(t *testing.T) {
				config := h.config()
				config.Mix, _ = ParseMix(mix)
				config.Connections, config.Callers, config.Inflight = 2, 24, 4
				config.Events, config.CoalesceEventsMax = 1, coalesce
				config.Count, config.RunID = 480, uint64(530+2*i)+uint64(-coalesce)
				var log bytes.Buffer
				config.IntervalLog = &log
				result := runOrFail(t, config)
				report := &result.Report
				checkCounts(t, report, 1)
				if report.RequestsSent != 480 || report.RequestsCompleted != 480 ||
					report.Results["ok"] != 480 || report.Invariant.TransfersAccounted != 480 {
					t.Fatalf("sent %d, completed %d, results %v, accounted %d",
						report.RequestsSent, report.RequestsCompleted, report.Results,
						report.Invariant.TransfersAccounted)
				}
				if report.LatencyUs != report.EventLatencyUs {
					t.Errorf("one event per request: request latency %+v, event latency %+v",
						report.LatencyUs, report.EventLatencyUs)
				}
				if !result.RequestLatency.Equals(result.EventLatency) {
					t.Error("one event per request: the two histograms differ")
				}
				reader := hdrhistogram.NewHistogramLogReader(&log)
				var requests, events int64
				for {
					h, err := reader.NextIntervalHistogram()
					if err != nil {
						t.Fatal(err)
					}
					if h == nil {
						break
					}
					if h.Tag() == "events" {
						events += h.TotalCount()
					} else {
						requests += h.TotalCount()
					}
				}
				if requests != 480 || events != 480 {
					t.Errorf("interval log: %d requests, %d events, want 480 each", requests,
						events)
				}
			})
		}
	}
}
