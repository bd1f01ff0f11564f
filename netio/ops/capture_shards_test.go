package ops

import "testing"

// TestMetricsCapturePerShard: a node of two shards has a capture per shard and a capture
// stream per shard. Every capture and stream series carries its shard, so the two do not
// collide (the registry would refuse two series with the same labels) and each shows its
// own values; a snapshot that fills only the single Capture (a source written before
// Captures) still gets its series, as shard 0's.
func TestMetricsCapturePerShard(t *testing.T) {
	fake := newFakeSources()
	snapshot := primarySnapshot()
	snapshot.Streams = []StreamStats{{Name: "market_data", Shard: 0, LagOps: 5},
		{Name: "capture", Shard: 0, LagOps: 7}, {Name: "capture", Shard: 1, LagOps: 11}}
	snapshot.Captures = []CaptureStats{{Shard: 0, Stream: "SEQUENT_0", Connected: true,
		LagSeconds: 0.5, Published: 100}, {Shard: 1, Stream: "SEQUENT_1", LagSeconds: 42,
		Published: 3, Gaps: 1}}
	snapshot.Capture = &snapshot.Captures[0]
	fake.setSnapshot(snapshot)
	families := scrape(t, startServer(t, Config{}, fake.sources()))
	for _, check := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sequent_stream_lag_ops", []string{"stream", "market_data", "shard", "0"}, 5},
		{"sequent_stream_lag_ops", []string{"stream", "capture", "shard", "0"}, 7},
		{"sequent_stream_lag_ops", []string{"stream", "capture", "shard", "1"}, 11},
		{"sequent_capture_connected", []string{"shard", "0"}, 1},
		{"sequent_capture_connected", []string{"shard", "1"}, 0},
		{"sequent_capture_lag_seconds", []string{"shard", "0"}, 0.5},
		{"sequent_capture_lag_seconds", []string{"shard", "1"}, 42},
		{"sequent_capture_published_total", []string{"shard", "1"}, 3},
		{"sequent_capture_gaps_total", []string{"shard", "1"}, 1},
	} {
		if got := value(t, families, check.name, check.labels...); got != check.want {
			t.Errorf("%s%v = %v, want %v", check.name, check.labels, got, check.want)
		}
	}
	if count := len(families["sequent_capture_lag_seconds"].Metric); count != 2 {
		t.Errorf("%d sequent_capture_lag_seconds series, want one per shard", count)
	}

	legacy := primarySnapshot()
	legacy.Capture = &CaptureStats{Stream: "SEQUENT_0", LagSeconds: 3}
	fake.setSnapshot(legacy)
	families = scrape(t, startServer(t, Config{}, fake.sources()))
	if got := value(t, families, "sequent_capture_lag_seconds", "shard", "0"); got != 3 {
		t.Errorf("a snapshot with Capture only: lag %v, want 3 as shard 0's", got)
	}
}
