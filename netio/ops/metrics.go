package ops

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// secondsPerMicrosecond converts the snapshot's microseconds to Prometheus's base unit.
const secondsPerMicrosecond = 1e-6

// summaryQuantiles are the quantiles every summary reports, from a Quantiles value.
var summaryQuantiles = [...]float64{0.5, 0.9, 0.99, 0.999}

// metricDefinition is one metric read from a Snapshot at scrape time.
type metricDefinition[T any] struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*T) float64
}

func counter[T any](name, help string, labels []string, value func(*T) float64,
) metricDefinition[T] {
	return metricDefinition[T]{prometheus.NewDesc(name, help, labels, nil),
		prometheus.CounterValue, value}
}

func gauge[T any](name, help string, labels []string, value func(*T) float64,
) metricDefinition[T] {
	return metricDefinition[T]{prometheus.NewDesc(name, help, labels, nil),
		prometheus.GaugeValue, value}
}

// summaryDefinition is one distribution: a summary (quantiles, sum, count) and a gauge
// for its maximum, both scaled from the snapshot's unit to the metric's.
type summaryDefinition[T any] struct {
	summary, max *prometheus.Desc
	scale        float64
	value        func(*T) *Quantiles
}

func summary[T any](name, maxName, help string, labels []string, scale float64,
	value func(*T) *Quantiles) summaryDefinition[T] {
	return summaryDefinition[T]{
		summary: prometheus.NewDesc(name, help, labels, nil),
		max:     prometheus.NewDesc(maxName, "Largest value recorded of "+name+".", labels, nil),
		scale:   scale, value: value}
}

func boolean(value bool) float64 {
	if value {
		return 1
	}
	return 0
}

var (
	noLabels    = []string(nil)
	shardLabels = []string{"shard"}
)

// snapshotCollector turns one Snapshot per scrape into metrics. It keeps no values of its
// own: everything comes from Sources.Snapshot, so a counter in Prometheus is exactly the
// counter the shard, log or network server publishes.
type snapshotCollector struct {
	snapshot    func() Snapshot
	node        []metricDefinition[Snapshot]
	replication []metricDefinition[ReplicationStats]
	network     []metricDefinition[NetworkStats]
	api         []metricDefinition[APIStats]
	shard       []metricDefinition[ShardStats]
	log         []metricDefinition[LogStats]
	streams     []metricDefinition[StreamStats]
	capture     []metricDefinition[CaptureStats]
	shardDists  []summaryDefinition[ShardStats]
	logDists    []summaryDefinition[LogStats]
	buildInfo   *prometheus.Desc
	role        *prometheus.Desc
	mode        *prometheus.Desc
	problem     *prometheus.Desc
	operations  *prometheus.Desc
	results     *prometheus.Desc
	latency     summaryDefinition[Quantiles]
	// panics is sequent_http_panics_total: the API's count from the snapshot, the
	// operators' server's own from opsPanics. Both series are always sent, from 0, so
	// that the alert's increase() sees the first panic.
	panics    *prometheus.Desc
	opsPanics func() uint64
	// witnessRefused is sequent_replication_witness_refused_total: every reason sent,
	// from 0, for the same reason.
	witnessRefused *prometheus.Desc
}

var _ prometheus.Collector = (*snapshotCollector)(nil)

func newSnapshotCollector(snapshot func() Snapshot, opsPanics func() uint64) *snapshotCollector {
	c := &snapshotCollector{snapshot: snapshot, opsPanics: opsPanics}
	c.node = nodeDefinitions()
	c.replication = replicationDefinitions()
	c.network = networkDefinitions()
	c.api = apiDefinitions()
	c.shard = shardDefinitions()
	c.log = logDefinitions()
	c.streams, c.capture = streamDefinitions(), captureDefinitions()
	c.shardDists = []summaryDefinition[ShardStats]{
		summary("sequent_shard_batch_requests", "sequent_shard_batch_max_requests",
			"Requests per log entry (batch size) written by the shard's sequencer.",
			shardLabels, 1, func(s *ShardStats) *Quantiles { return &s.BatchRequests }),
		summary("sequent_shard_apply_latency_seconds", "sequent_shard_apply_latency_max_seconds",
			"Time the state machine took to apply one log entry.", shardLabels,
			secondsPerMicrosecond, func(s *ShardStats) *Quantiles { return &s.ApplyLatencyUs }),
	}
	c.logDists = []summaryDefinition[LogStats]{
		summary("sequent_wal_encode_latency_seconds", "sequent_wal_encode_latency_max_seconds",
			"Time one large entry's encoding (compression, CRC32C, SHA-256) took.", shardLabels,
			secondsPerMicrosecond, func(l *LogStats) *Quantiles { return &l.EncodeLatencyUs }),
		summary("sequent_wal_write_latency_seconds", "sequent_wal_write_latency_max_seconds",
			"Time one group commit's write to the log's segment took.", shardLabels,
			secondsPerMicrosecond, func(l *LogStats) *Quantiles { return &l.WriteLatencyUs }),
		summary("sequent_wal_sync_latency_seconds", "sequent_wal_sync_latency_max_seconds",
			"Time one fdatasync of the log took.", shardLabels,
			secondsPerMicrosecond, func(l *LogStats) *Quantiles { return &l.SyncLatencyUs }),
	}
	c.latency = summary("sequent_request_latency_seconds",
		"sequent_request_latency_max_seconds",
		"Time from a request's arrival at the server to its reply leaving, by operation.",
		[]string{"operation"}, secondsPerMicrosecond, func(q *Quantiles) *Quantiles { return q })
	c.buildInfo = prometheus.NewDesc("sequent_build_info",
		"Always 1; the version label names the running build.", []string{"version"}, nil)
	c.role = prometheus.NewDesc("sequent_role",
		"1 for the node's current role (primary, standby, fenced), 0 for the others.",
		[]string{"role"}, nil)
	c.mode = prometheus.NewDesc("sequent_replication_mode",
		"1 for the configured replication mode (none, sync, async), 0 for the others.",
		[]string{"mode"}, nil)
	c.problem = prometheus.NewDesc("sequent_problem",
		"1 for each problem /healthz lists now, by code (absent when healthy).",
		[]string{"code"}, nil)
	c.operations = prometheus.NewDesc("sequent_shard_operation_requests_total",
		"Requests the shard handled, by operation.", []string{"shard", "operation"}, nil)
	c.results = prometheus.NewDesc("sequent_shard_results_total",
		"Event results the shard returned, by result code.", []string{"shard", "result"}, nil)
	c.panics = prometheus.NewDesc("sequent_http_panics_total",
		"Handler panics an HTTP server recovered and answered 500, by server (api, ops).",
		[]string{"server"}, nil)
	c.witnessRefused = prometheus.NewDesc("sequent_replication_witness_refused_total",
		"Witness answers this node did not trust, by reason (forged: signature failed; "+
			"identity: not the pinned witness; unsigned: not signed and not allowed; "+
			"downgrade: not signed after a signed one).", []string{"reason"}, nil)
	return c
}

func nodeDefinitions() []metricDefinition[Snapshot] {
	return []metricDefinition[Snapshot]{
		gauge("sequent_uptime_seconds", "Time since the process started.", noLabels,
			func(s *Snapshot) float64 { return s.UptimeSeconds }),
		gauge("sequent_epoch", "The node's replication epoch (raised by every promotion).",
			noLabels, func(s *Snapshot) float64 { return float64(s.Epoch) }),
		gauge("sequent_healthy", "1 when /healthz lists no problem, else 0.", noLabels,
			func(s *Snapshot) float64 { return boolean(len(s.Problems) == 0) }),
		gauge("sequent_ready", "1 when /readyz says the node can take writes, else 0.",
			noLabels, func(s *Snapshot) float64 { return boolean(len(NotReadyReasons(s)) == 0) }),
		gauge("sequent_data_directory_usage_bytes",
			"Size of the files in the data directory (logs, snapshots, keys).", noLabels,
			func(s *Snapshot) float64 { return float64(s.DataDirectoryUsageBytes) }),
		gauge("sequent_data_directory_available_bytes",
			"Space left for the node on the data directory's file system (unknown when "+
				"sequent_data_directory_filesystem_size_bytes is 0).",
			noLabels, func(s *Snapshot) float64 { return float64(s.DataDirectoryAvailableBytes) }),
		gauge("sequent_data_directory_filesystem_size_bytes",
			"Size of the data directory's file system (0: unknown).", noLabels,
			func(s *Snapshot) float64 { return float64(s.DataDirectoryFilesystemBytes) }),
	}
}

func replicationDefinitions() []metricDefinition[ReplicationStats] {
	type r = ReplicationStats
	return []metricDefinition[r]{
		gauge("sequent_replication_standby_attached",
			"1 on a primary while a standby is connected and streaming.", noLabels,
			func(s *r) float64 { return boolean(s.StandbyAttached) }),
		gauge("sequent_replication_primary_connected",
			"1 on a standby while it is connected to its primary.", noLabels,
			func(s *r) float64 { return boolean(s.PrimaryConnected) }),
		gauge("sequent_replication_acknowledged_op",
			"Last op the standby has acknowledged as durable.", noLabels,
			func(s *r) float64 { return float64(s.AcknowledgedOp) }),
		gauge("sequent_replication_lag_ops", "Ops the standby is behind the primary's log.",
			noLabels, func(s *r) float64 { return float64(s.LagOps) }),
		gauge("sequent_replication_lag_bytes",
			"Stored log bytes the standby is behind the primary's log.", noLabels,
			func(s *r) float64 { return float64(s.LagBytes) }),
		gauge("sequent_replication_lag_seconds",
			"Time since the other side of the replication link was last heard from.",
			noLabels, func(s *r) float64 { return float64(s.LagMs) / 1e3 }),
		gauge("sequent_replication_degraded",
			"1 while a sync-mode primary has stopped waiting for its standby.", noLabels,
			func(s *r) float64 { return boolean(s.Degraded) }),
		gauge("sequent_replication_failed", "1 when replication has stopped with an error.",
			noLabels, func(s *r) float64 { return boolean(s.Failure != "") }),
		counter("sequent_replication_degradations_total",
			"Times a sync-mode primary degraded to async.", noLabels,
			func(s *r) float64 { return float64(s.Degradations) }),
		counter("sequent_replication_sent_entries_total",
			"Log entries sent to the standby.", noLabels,
			func(s *r) float64 { return float64(s.EntriesSent) }),
		counter("sequent_replication_sent_bytes_total", "Log bytes sent to the standby.",
			noLabels, func(s *r) float64 { return float64(s.BytesSent) }),
		counter("sequent_replication_lease_renewals_total",
			"Witness lease renewals granted to this node as a primary.", noLabels,
			func(s *r) float64 { return float64(s.LeaseRenewals) }),
		counter("sequent_replication_lease_renewal_failures_total",
			"Witness lease renewals that failed: no answer in time (witness unreachable or "+
				"slow), or one not trusted (sequent_replication_witness_refused_total).",
			noLabels, func(s *r) float64 { return float64(s.LeaseRenewalFailures) }),
		counter("sequent_replication_lease_losses_total",
			"Witness leases this node lost as a primary (ran out or went to the other node); "+
				"each fenced it.", noLabels, func(s *r) float64 { return float64(s.LeaseLosses) }),
	}
}

func apiDefinitions() []metricDefinition[APIStats] {
	type a = APIStats
	return []metricDefinition[a]{
		counter("sequent_api_requests_total",
			"Requests the integrators' JSON API answered, whatever the outcome.", noLabels,
			func(s *a) float64 { return float64(s.Requests) }),
		counter("sequent_api_auth_failures_total",
			"JSON API requests refused for their authentication (401, 429 too_many_attempts).",
			noLabels, func(s *a) float64 { return float64(s.AuthFailures) }),
		counter("sequent_api_refused_total",
			"JSON API requests refused after authentication (403, 4xx, 429, 503 at once).",
			noLabels, func(s *a) float64 { return float64(s.Refused) }),
		counter("sequent_api_busy_total",
			"JSON API requests refused busy (of sequent_api_refused_total).", noLabels,
			func(s *a) float64 { return float64(s.Busy) }),
		counter("sequent_api_rate_limited_total",
			"JSON API requests refused rate_limited by the client's configured rate "+
				"(of sequent_api_refused_total).", noLabels,
			func(s *a) float64 { return float64(s.RateLimited) }),
		counter("sequent_api_timeouts_total",
			"JSON API requests answered outcome_unknown: no reply within the reply timeout.",
			noLabels, func(s *a) float64 { return float64(s.Timeouts) }),
		gauge("sequent_api_requests_inflight",
			"JSON API requests waiting for their shard now.", noLabels,
			func(s *a) float64 { return float64(s.InFlight) }),
	}
}

func networkDefinitions() []metricDefinition[NetworkStats] {
	type n = NetworkStats
	return []metricDefinition[n]{
		gauge("sequent_network_connections", "Client connections open now.", noLabels,
			func(s *n) float64 { return float64(s.ConnectionsOpen) }),
		counter("sequent_network_connections_accepted_total", "Client connections admitted.",
			noLabels, func(s *n) float64 { return float64(s.ConnectionsAccepted) }),
		counter("sequent_network_connections_refused_total",
			"Client connections refused (limits, allow-list, shutdown).", noLabels,
			func(s *n) float64 { return float64(s.ConnectionsRefused) }),
		counter("sequent_network_logins_accepted_total", "Successful logins.", noLabels,
			func(s *n) float64 { return float64(s.LoginsAccepted) }),
		counter("sequent_network_logins_rejected_total",
			"Refused logins (unknown key, bad signature, reused nonce, too many attempts).",
			noLabels, func(s *n) float64 { return float64(s.LoginsRejected) }),
		counter("sequent_network_received_bytes_total",
			"Bytes of complete frames received from clients.", noLabels,
			func(s *n) float64 { return float64(s.BytesReceived) }),
		counter("sequent_network_sent_bytes_total",
			"Bytes of replies and reports queued to clients.", noLabels,
			func(s *n) float64 { return float64(s.BytesSent) }),
		counter("sequent_network_busy_replies_total",
			"Requests answered busy because the shard's input ring was full.", noLabels,
			func(s *n) float64 { return float64(s.BusyReplies) }),
		counter("sequent_network_rate_limited_replies_total",
			"Requests answered rate_limited by a client's configured limit.", noLabels,
			func(s *n) float64 { return float64(s.RateLimitedReplies) }),
		counter("sequent_network_protocol_errors_total",
			"Error frames sent for malformed or unexpected frames.", noLabels,
			func(s *n) float64 { return float64(s.ProtocolErrors) }),
		counter("sequent_network_slow_consumers_total",
			"Connections closed because the client did not read its replies.", noLabels,
			func(s *n) float64 { return float64(s.SlowConsumers) }),
		gauge("sequent_network_requests_inflight",
			"Requests submitted whose reply has not left yet.", noLabels,
			func(s *n) float64 { return float64(s.RequestsInflight) }),
	}
}

func shardDefinitions() []metricDefinition[ShardStats] {
	type s = ShardStats
	l := shardLabels
	return []metricDefinition[s]{
		counter("sequent_shard_ops_applied_total", "Ops applied to the shard's core.", l,
			func(v *s) float64 { return float64(v.OpsApplied) }),
		counter("sequent_shard_entries_total", "Log entries the shard's sequencer wrote.", l,
			func(v *s) float64 { return float64(v.Entries) }),
		counter("sequent_shard_requests_total",
			"Requests the shard logged (one op each: clients' and the server's own).", l,
			func(v *s) float64 { return float64(v.Requests) }),
		counter("sequent_shard_queries_total",
			"Clients' read requests the shard answered (not the server's own reads).", l,
			func(v *s) float64 { return float64(v.Queries) }),
		counter("sequent_shard_busy_replies_total",
			"Submissions the shard refused because its input ring was full.", l,
			func(v *s) float64 { return float64(v.BusyReplies) }),
		counter("sequent_shard_log_full_refusals_total",
			"Writes refused with log_unavailable because the log had no room (disk full).", l,
			func(v *s) float64 { return float64(v.LogFullRefusals) }),
		counter("sequent_shard_inline_turns_total",
			"Sequencer turns a network event loop ran itself, the shard being idle.", l,
			func(v *s) float64 { return float64(v.InlineTurns) }),
		gauge("sequent_shard_ring_requests", "Requests waiting in the shard's input ring.", l,
			func(v *s) float64 { return float64(v.RingDepth) }),
		gauge("sequent_shard_applied_op", "Last op applied to the shard's core.", l,
			func(v *s) float64 { return float64(v.AppliedOp) }),
		gauge("sequent_shard_durable_op", "Last op the shard's log has synced to disk.", l,
			func(v *s) float64 { return float64(v.DurableOp) }),
		gauge("sequent_shard_released_op",
			"Last op whose replies the shard released to clients.", l,
			func(v *s) float64 { return float64(v.ReleasedOp) }),
		counter("sequent_shard_snapshots_total", "State snapshots the shard took.", l,
			func(v *s) float64 { return float64(v.Snapshots) }),
		counter("sequent_shard_snapshot_errors_total",
			"State snapshots that failed to write.", l,
			func(v *s) float64 { return float64(v.SnapshotErrors) }),
	}
}

func logDefinitions() []metricDefinition[LogStats] {
	type w = LogStats
	l := shardLabels
	return []metricDefinition[w]{
		gauge("sequent_wal_open", "1 while the shard's log accepts appends.", l,
			func(v *w) float64 { return boolean(v.Open) }),
		gauge("sequent_wal_failed", "1 when a write or sync of the shard's log failed.", l,
			func(v *w) float64 { return boolean(v.Failure != "") }),
		gauge("sequent_wal_next_segment_failed",
			"1 while the log's next segment cannot be prepared (file system full).", l,
			func(v *w) float64 { return boolean(v.NextSegmentFailure != "") }),
		counter("sequent_wal_entries_total", "Entries written to the log.", l,
			func(v *w) float64 { return float64(v.Entries) }),
		counter("sequent_wal_groups_total",
			"Group commits (one vectored write per segment touched).", l,
			func(v *w) float64 { return float64(v.Groups) }),
		counter("sequent_wal_syncs_total", "fdatasync calls on the log.", l,
			func(v *w) float64 { return float64(v.Syncs) }),
		counter("sequent_wal_inline_groups_total",
			"Group commits the sequencer ran itself, without waking the log's writer.", l,
			func(v *w) float64 { return float64(v.InlineGroups) }),
		counter("sequent_wal_rolls_total", "Switches to a new log segment.", l,
			func(v *w) float64 { return float64(v.Rolls) }),
		counter("sequent_wal_stored_bytes_total",
			"Entry bytes written to the log, headers included, after compression.", l,
			func(v *w) float64 { return float64(v.StoredBytes) }),
		counter("sequent_wal_raw_bytes_total",
			"Entry body bytes written to the log, before compression.", l,
			func(v *w) float64 { return float64(v.RawBytes) }),
	}
}

// Describe sends every fixed descriptor, so the registry checks names and help at
// registration.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, c.node)
	describe(ch, c.replication)
	describe(ch, c.network)
	describe(ch, c.api)
	describe(ch, c.shard)
	describe(ch, c.log)
	describe(ch, c.streams)
	describe(ch, c.capture)
	for _, d := range c.shardDists {
		ch <- d.summary
		ch <- d.max
	}
	for _, d := range c.logDists {
		ch <- d.summary
		ch <- d.max
	}
	for _, desc := range []*prometheus.Desc{c.latency.summary, c.latency.max, c.buildInfo,
		c.role, c.mode, c.problem, c.operations, c.results, c.panics, c.witnessRefused} {
		ch <- desc
	}
}

func describe[T any](ch chan<- *prometheus.Desc, definitions []metricDefinition[T]) {
	for _, d := range definitions {
		ch <- d.desc
	}
}

// Collect reads one snapshot and sends every series. Label values that Prometheus cannot
// carry (invalid UTF-8 from a caller) become invalid metrics, which the registry reports
// and leaves out without dropping the rest.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	snapshot := c.snapshot()
	collect(ch, c.node, &snapshot)
	collect(ch, c.replication, &snapshot.Replication)
	collect(ch, c.network, &snapshot.Network)
	if snapshot.API != nil { // A node without the JSON API sends none of its series.
		collect(ch, c.api, snapshot.API)
	}
	ch <- constant(c.buildInfo, prometheus.GaugeValue, 1, snapshot.Version)
	ch <- constant(c.panics, prometheus.CounterValue, float64(snapshot.APIPanics), "api")
	ch <- constant(c.panics, prometheus.CounterValue, float64(c.opsPanics()), "ops")
	refused := &snapshot.Replication.WitnessRefused
	for _, reason := range [...]struct {
		name  string
		count uint64
	}{{WitnessRefusedForged, refused.Forged}, {WitnessRefusedIdentity, refused.Identity},
		{WitnessRefusedUnsigned, refused.Unsigned},
		{WitnessRefusedDowngrade, refused.Downgrade}} {
		ch <- constant(c.witnessRefused, prometheus.CounterValue, float64(reason.count),
			reason.name)
	}
	for _, role := range [...]string{RolePrimary, RoleStandby, RoleFenced} {
		ch <- constant(c.role, prometheus.GaugeValue, boolean(snapshot.Role == role), role)
	}
	mode := snapshot.Replication.Mode
	if mode == "" {
		mode = ModeNone
	}
	for _, name := range [...]string{ModeNone, ModeSync, ModeAsync} {
		ch <- constant(c.mode, prometheus.GaugeValue, boolean(mode == name), name)
	}
	seen := make(map[string]bool, len(snapshot.Problems))
	for _, problem := range snapshot.Problems {
		if !seen[problem.Code] {
			seen[problem.Code] = true
			ch <- constant(c.problem, prometheus.GaugeValue, 1, problem.Code)
		}
	}
	for i := range snapshot.Shards {
		c.collectShard(ch, &snapshot.Shards[i])
	}
	for i := range snapshot.Streams {
		stream := &snapshot.Streams[i]
		collect(ch, c.streams, stream, stream.Name, strconv.FormatUint(uint64(stream.Shard), 10))
	}
	captures := snapshot.Captures
	if len(captures) == 0 && snapshot.Capture != nil {
		captures = []CaptureStats{*snapshot.Capture} // A source that fills Capture only.
	}
	for i := range captures {
		collect(ch, c.capture, &captures[i], strconv.FormatUint(uint64(captures[i].Shard), 10))
	}
	for operation, quantiles := range snapshot.RequestLatencyUs {
		distribution(ch, &c.latency, &quantiles, operation)
	}
}

func (c *snapshotCollector) collectShard(ch chan<- prometheus.Metric, shard *ShardStats) {
	id := strconv.FormatUint(uint64(shard.ID), 10)
	collect(ch, c.shard, shard, id)
	collect(ch, c.log, &shard.Log, id)
	for i := range c.shardDists {
		distribution(ch, &c.shardDists[i], shard, id)
	}
	for i := range c.logDists {
		distribution(ch, &c.logDists[i], &shard.Log, id)
	}
	for operation, count := range shard.Operations {
		ch <- constant(c.operations, prometheus.CounterValue, float64(count), id, operation)
	}
	for result, count := range shard.Results {
		ch <- constant(c.results, prometheus.CounterValue, float64(count), id, result)
	}
}

func collect[T any](ch chan<- prometheus.Metric, definitions []metricDefinition[T], source *T,
	labels ...string) {
	for _, d := range definitions {
		ch <- constant(d.desc, d.kind, d.value(source), labels...)
	}
}

func distribution[T any](ch chan<- prometheus.Metric, d *summaryDefinition[T], source *T,
	labels ...string) {
	q := d.value(source)
	quantiles := map[float64]float64{
		summaryQuantiles[0]: q.P50 * d.scale, summaryQuantiles[1]: q.P90 * d.scale,
		summaryQuantiles[2]: q.P99 * d.scale, summaryQuantiles[3]: q.P999 * d.scale,
	}
	metric, err := prometheus.NewConstSummary(d.summary, q.Count, q.Sum*d.scale, quantiles,
		labels...)
	if err != nil {
		metric = prometheus.NewInvalidMetric(d.summary, err)
	}
	ch <- metric
	ch <- constant(d.max, prometheus.GaugeValue, q.Max*d.scale, labels...)
}

func constant(desc *prometheus.Desc, kind prometheus.ValueType, value float64,
	labels ...string) prometheus.Metric {
	metric, err := prometheus.NewConstMetric(desc, kind, value, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return metric
}

// httpMetrics are the server's own counters (not from a Snapshot): requests it answered,
// requests it refused, admin actions by outcome.
type httpMetrics struct {
	requests *prometheus.CounterVec
	refusals *prometheus.CounterVec
	actions  *prometheus.CounterVec
}

// newRegistry builds the registry /metrics serves: the snapshot collector, the server's
// own counters, and the Go runtime and process collectors (memory, GC, goroutines, file
// descriptors, CPU), which need nothing from us.
func newRegistry(snapshot func() Snapshot, opsPanics func() uint64) (*prometheus.Registry,
	*httpMetrics, error) {
	registry := prometheus.NewPedanticRegistry()
	own := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sequent_http_requests_total",
			Help: "Requests the operators' HTTP server answered, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sequent_http_refusals_total",
			Help: "Requests refused before reaching an endpoint or an admin action, " +
				"by reason (address_not_allowed, host_not_allowed, rate_limited, no_token, wrong_token).",
		}, []string{"reason"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sequent_admin_actions_total",
			Help: "Admin actions attempted with an accepted token, by action and outcome " +
				"(ok, refused, failed, audit_failed, timeout, busy, not_implemented).",
		}, []string{"action", "outcome"}),
	}
	for _, collector := range []prometheus.Collector{
		newSnapshotCollector(snapshot, opsPanics), own.requests, own.refusals, own.actions,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := registry.Register(collector); err != nil {
			return nil, nil, err
		}
	}
	return registry, own, nil
}
