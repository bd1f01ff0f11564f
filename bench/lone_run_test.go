package bench

import "testing"

// TestLoneReadsCountsAddUp: one request at a time per connection with LoneReads (each a
// DoInto, worker.lone), every workload mixed, counted against the fake shard: exactly
// count requests sent and completed, all results ok, every transfer accounted for.
func TestLoneReadsCountsAddUp(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Mix, _ = ParseMix("single=1,two-phase=1,linked=1")
	config.Connections, config.Inflight, config.Events = 2, 1, 3
	config.Count, config.RunID, config.LoneReads = 90, 300, true
	report := &runOrFail(t, config).Report
	checkCounts(t, report, 3)
	if report.Mode != "closed" || report.RequestsSent != 90 ||
		report.RequestsCompleted != 90 || report.Results["ok"] != 270 {
		t.Fatalf("mode %s, sent %d, completed %d, results %v", report.Mode,
			report.RequestsSent, report.RequestsCompleted, report.Results)
	}
	if report.Invariant.TransfersAccounted != 270 {
		t.Fatalf("%d transfers accounted for, want 270", report.Invariant.TransfersAccounted)
	}
}
