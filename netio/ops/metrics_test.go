package ops

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics and parses it with Prometheus's own text parser, so a format
// error fails the test.
func scrape(t *testing.T, server *Server) map[string]*dto.MetricFamily {
	t.Helper()
	result := get(t, server, PathMetrics)
	if result.code != 200 {
		t.Fatalf("/metrics: %d %s", result.code, result.body)
	}
	if got := result.header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
		t.Fatalf("/metrics content type %q", got)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(result.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, result.body)
	}
	return families
}

// value returns the value of the one series of a family with exactly these labels
// (name=value pairs); for a summary, the quantile named by a "quantile" label, or the
// count and sum through the _count and _sum suffixes.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string,
	labels ...string) float64 {
	t.Helper()
	base, part := name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if _, ok := families[name]; !ok && strings.HasSuffix(name, suffix) {
			base, part = strings.TrimSuffix(name, suffix), suffix
		}
	}
	family, ok := families[base]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	quantile, hasQuantile := want["quantile"]
	delete(want, "quantile")
	for _, metric := range family.Metric {
		if !labelsEqual(metric.Label, want) {
			continue
		}
		switch {
		case metric.Summary != nil && part == "_count":
			return float64(metric.Summary.GetSampleCount())
		case metric.Summary != nil && part == "_sum":
			return metric.Summary.GetSampleSum()
		case metric.Summary != nil && hasQuantile:
			for _, q := range metric.Summary.Quantile {
				if formatFloat(q.GetQuantile()) == quantile {
					return q.GetValue()
				}
			}
		case metric.Counter != nil:
			return metric.Counter.GetValue()
		case metric.Gauge != nil:
			return metric.Gauge.GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func labelsEqual(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, pair := range pairs {
		if want[pair.GetName()] != pair.GetValue() {
			return false
		}
	}
	return true
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

// primarySeries are series of primarySnapshot and their values in base units.
var primarySeries = []struct {
	name   string
	labels []string
	want   float64
}{
	{"sequent_build_info", []string{"version", "sequent test"}, 1},
	{"sequent_uptime_seconds", nil, 12.5},
	{"sequent_epoch", nil, 3},
	{"sequent_role", []string{"role", "primary"}, 1},
	{"sequent_role", []string{"role", "standby"}, 0},
	{"sequent_healthy", nil, 1},
	{"sequent_ready", nil, 1},
	{"sequent_data_directory_usage_bytes", nil, 1 << 30},
	{"sequent_data_directory_available_bytes", nil, 3 << 30},
	{"sequent_data_directory_filesystem_size_bytes", nil, 10 << 30},
	{"sequent_shard_ops_applied_total", []string{"shard", "0"}, 1001},
	{"sequent_shard_entries_total", []string{"shard", "0"}, 101},
	{"sequent_shard_requests_total", []string{"shard", "0"}, 1234},
	{"sequent_shard_queries_total", []string{"shard", "0"}, 55},
	{"sequent_shard_busy_replies_total", []string{"shard", "0"}, 6},
	{"sequent_shard_ring_requests", []string{"shard", "0"}, 17},
	{"sequent_shard_inline_turns_total", []string{"shard", "0"}, 9},
	{"sequent_shard_log_full_refusals_total", []string{"shard", "0"}, 4},
	{"sequent_wal_next_segment_failed", []string{"shard", "0"}, 0},
	{"sequent_shard_applied_op", []string{"shard", "0"}, 2001},
	{"sequent_shard_durable_op", []string{"shard", "0"}, 1999},
	{"sequent_shard_released_op", []string{"shard", "0"}, 1998},
	{"sequent_shard_snapshot_errors_total", []string{"shard", "0"}, 1},
	{"sequent_shard_operation_requests_total",
		[]string{"shard", "0", "operation", "create_transfers"}, 900},
	{"sequent_shard_results_total", []string{"shard", "0", "result", "exceeds_credits"}, 20},
	{"sequent_shard_batch_requests", []string{"shard", "0", "quantile", "0.99"}, 120},
	{"sequent_shard_batch_requests_count", []string{"shard", "0"}, 101},
	{"sequent_shard_batch_max_requests", []string{"shard", "0"}, 800},
	{"sequent_shard_apply_latency_seconds", []string{"shard", "0", "quantile", "0.99"},
		2100e-6},
	{"sequent_shard_apply_latency_max_seconds", []string{"shard", "0"}, 4400e-6},
	{"sequent_wal_encode_latency_seconds", []string{"shard", "0", "quantile", "0.9"}, 500e-6},
	{"sequent_wal_encode_latency_seconds_sum", []string{"shard", "0"}, 30300e-6},
	{"sequent_wal_open", []string{"shard", "0"}, 1},
	{"sequent_wal_syncs_total", []string{"shard", "0"}, 98},
	{"sequent_wal_inline_groups_total", []string{"shard", "0"}, 60},
	{"sequent_wal_stored_bytes_total", []string{"shard", "0"}, 40000},
	{"sequent_wal_raw_bytes_total", []string{"shard", "0"}, 120000},
	{"sequent_wal_sync_latency_seconds", []string{"shard", "0", "quantile", "0.99"},
		420e-6},
	{"sequent_wal_sync_latency_seconds_sum", []string{"shard", "0"}, 19600e-6},
	{"sequent_wal_write_latency_max_seconds", []string{"shard", "0"}, 1500e-6},
	{"sequent_replication_mode", []string{"mode", "sync"}, 1},
	{"sequent_replication_mode", []string{"mode", "none"}, 0},
	{"sequent_replication_standby_attached", nil, 1},
	{"sequent_replication_acknowledged_op", nil, 1990},
	{"sequent_replication_lag_ops", nil, 11},
	{"sequent_replication_lag_bytes", nil, 4096},
	{"sequent_replication_lag_seconds", nil, 1.5},
	{"sequent_replication_degradations_total", nil, 2},
	{"sequent_replication_lease_renewals_total", nil, 400},
	{"sequent_replication_lease_renewal_failures_total", nil, 7},
	{"sequent_replication_lease_losses_total", nil, 1},
	{"sequent_replication_witness_refused_total", []string{"reason", "forged"}, 3},
	{"sequent_replication_witness_refused_total", []string{"reason", "identity"}, 4},
	{"sequent_replication_witness_refused_total", []string{"reason", "unsigned"}, 5},
	{"sequent_replication_witness_refused_total", []string{"reason", "downgrade"}, 6},
	{"sequent_network_connections", nil, 4},
	{"sequent_network_logins_rejected_total", nil, 5},
	{"sequent_network_received_bytes_total", nil, 7777},
	{"sequent_network_sent_bytes_total", nil, 8888},
	{"sequent_network_busy_replies_total", nil, 9},
	{"sequent_network_rate_limited_replies_total", nil, 10},
	{"sequent_api_requests_total", nil, 500},
	{"sequent_api_auth_failures_total", nil, 21},
	{"sequent_api_refused_total", nil, 22},
	{"sequent_api_busy_total", nil, 23},
	{"sequent_api_rate_limited_total", nil, 24},
	{"sequent_api_timeouts_total", nil, 25},
	{"sequent_api_requests_inflight", nil, 26},
	{"sequent_request_latency_seconds",
		[]string{"operation", "create_transfers", "quantile", "0.999"}, 3000e-6},
	{"sequent_request_latency_seconds_count", []string{"operation", "create_transfers"},
		900},
	{"sequent_request_latency_max_seconds", []string{"operation", "create_transfers"},
		9000e-6},
}

// TestMetricsReflectSnapshot scrapes a server whose snapshot has a distinct value in
// every field and checks series from each part (node, shard, log, replication, network,
// latency, states), converted to base units; then moves some counters and checks that a
// scrape within the cache interval still shows the old body, and one after it exactly
// the new values, since nothing is accumulated.
func TestMetricsReflectSnapshot(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	families := scrape(t, server)
	for _, check := range primarySeries {
		if got := value(t, families, check.name, check.labels...); !near(got, check.want) {
			t.Errorf("%s%v = %v, want %v", check.name, check.labels, got, check.want)
		}
	}
	if _, ok := families["sequent_problem"]; ok {
		t.Errorf("sequent_problem present with no problem")
	}

	moved := primarySnapshot()
	moved.Shards[0].Requests += 250
	moved.Shards[0].Results["exceeds_credits"] += 3
	moved.Network.LoginsRejected++
	moved.Problems = []Problem{{Code: ProblemDiskSpaceLow}, {Code: ProblemDiskSpaceLow}}
	fake.setSnapshot(moved)
	clock.advance(MetricsCacheIntervalDefault - time.Millisecond)
	if got := value(t, scrape(t, server), "sequent_shard_requests_total", "shard", "0"); got != 1234 {
		t.Errorf("within the cache interval: requests %v, want the cached 1234", got)
	}
	clock.advance(time.Millisecond)
	families = scrape(t, server)
	for _, check := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sequent_shard_requests_total", []string{"shard", "0"}, 1484},
		{"sequent_shard_results_total", []string{"shard", "0", "result", "exceeds_credits"}, 23},
		{"sequent_network_logins_rejected_total", nil, 6},
		{"sequent_problem", []string{"code", ProblemDiskSpaceLow}, 1},
		{"sequent_healthy", nil, 0},
	} {
		if got := value(t, families, check.name, check.labels...); got != check.want {
			t.Errorf("after the move: %s%v = %v, want %v", check.name, check.labels, got,
				check.want)
		}
	}
}

// TestMetricsConventions checks every sequent_ family: HELP text present, counters end
// in _total, and Prometheus's own linter (promlint: units, suffixes, names) finds nothing.
// The server's own counters show up once a request has been counted.
func TestMetricsConventions(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	post(t, server, PathSnapshot, "wrong") // Counted as a refusal.
	post(t, server, PathSnapshot, testTokens["alice"])
	families := scrape(t, server)
	var mine []*dto.MetricFamily
	for name, family := range families {
		if !strings.HasPrefix(name, "sequent_") {
			continue
		}
		mine = append(mine, family)
		if family.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		if family.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
	if len(mine) < 60 {
		t.Errorf("only %d sequent_ families", len(mine))
	}
	problems, err := promlint.NewWithMetricFamilies(mine).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range problems {
		t.Errorf("promlint: %s: %s", problem.Metric, problem.Text)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := families[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if got := value(t, families, "sequent_http_refusals_total", "reason", "wrong_token"); got != 1 {
		t.Errorf("wrong_token refusals = %v, want 1", got)
	}
	if got := value(t, families, "sequent_admin_actions_total", "action", ActionSnapshot,
		"outcome", outcomeOK); got != 1 {
		t.Errorf("snapshot actions = %v, want 1", got)
	}
}

// TestMetricsBadLabelValue gives an operation name that is not UTF-8: that one series is
// left out (and logged), and the rest of the exposition is still served and parses.
func TestMetricsBadLabelValue(t *testing.T) {
	fake := newFakeSources()
	snapshot := primarySnapshot()
	snapshot.Shards[0].Operations["bad\xff"] = 1
	fake.setSnapshot(snapshot)
	server := startServer(t, Config{}, fake.sources())
	families := scrape(t, server)
	if got := value(t, families, "sequent_shard_requests_total", "shard", "0"); got != 1234 {
		t.Errorf("requests = %v", got)
	}
	if got := value(t, families, "sequent_shard_operation_requests_total", "shard", "0",
		"operation", "create_transfers"); got != 900 {
		t.Errorf("create_transfers = %v", got)
	}
	for _, metric := range families["sequent_shard_operation_requests_total"].Metric {
		for _, label := range metric.Label {
			if strings.HasPrefix(label.GetValue(), "bad") {
				t.Errorf("invalid label value served: %q", label.GetValue())
			}
		}
	}
}

// testClock is a settable clock for the limiter and the metrics cache.
type testClock struct {
	mutex sync.Mutex
	at    time.Time
}

func (c *testClock) now() time.Time {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return c.at
}

func (c *testClock) advance(d time.Duration) {
	c.mutex.Lock()
	c.at = c.at.Add(d)
	c.mutex.Unlock()
}

// TestMetricsStreamsPerShard: a node of several shards has a market-data feed per shard;
// each stream's series carries its shard, so that the feeds' lags and overflows are told
// apart (before, the series had only the stream label, and two shards' feeds would have
// been one duplicated series).
func TestMetricsStreamsPerShard(t *testing.T) {
	fake := newFakeSources()
	snapshot := primarySnapshot()
	snapshot.Streams = []StreamStats{
		{Name: "market_data", Shard: 0, LagOps: 3, Buffered: 1, FellBehind: 2},
		{Name: "capture", Shard: 0, LagOps: 9},
		{Name: "market_data", Shard: 1, LagOps: 7, Buffered: 4, FellBehind: 5},
	}
	fake.setSnapshot(snapshot)
	server := startServer(t, Config{}, fake.sources())
	families := scrape(t, server)
	for _, check := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sequent_stream_lag_ops", []string{"stream", "market_data", "shard", "0"}, 3},
		{"sequent_stream_lag_ops", []string{"stream", "market_data", "shard", "1"}, 7},
		{"sequent_stream_lag_ops", []string{"stream", "capture", "shard", "0"}, 9},
		{"sequent_stream_buffered", []string{"stream", "market_data", "shard", "1"}, 4},
		{"sequent_stream_fell_behind_total", []string{"stream", "market_data", "shard", "1"}, 5},
	} {
		if got := value(t, families, check.name, check.labels...); got != check.want {
			t.Errorf("%s%v = %v, want %v", check.name, check.labels, got, check.want)
		}
	}
}

// TestMetricsWithoutAPISendNoAPISeries: a node without the JSON API (Snapshot.API nil)
// sends none of the sequent_api_ series, rather than zeros that would read as an idle API.
func TestMetricsWithoutAPISendNoAPISeries(t *testing.T) {
	fake := newFakeSources()
	without := primarySnapshot()
	without.API = nil
	fake.setSnapshot(without)
	server := startServer(t, Config{}, fake.sources())
	for name := range scrape(t, server) {
		if strings.HasPrefix(name, "sequent_api_") {
			t.Errorf("%s sent without an API", name)
		}
	}
}
