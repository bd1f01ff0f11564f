package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite prometheus/sequent-alerts.test.yml from the cases")

// TestAlertTests checks that the committed promtool test file is exactly what the cases
// and the rules generate (-update rewrites it).
func TestAlertTests(t *testing.T) {
	generated, err := GenerateRuleTests()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(RuleTestsPath, generated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := Files.ReadFile(RuleTestsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, generated) {
		t.Fatalf("%s is stale: run go test ./tools/deploy -run TestAlertTests -update", RuleTestsPath)
	}
}

// TestEveryAlertHasFiringAndQuietCases: each rule has at least one case where it fires
// and one where it does not, and no case names an alert that does not exist.
func TestEveryAlertHasFiringAndQuietCases(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := RuleCases()
	if err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]int{}, map[string]int{}
	for _, c := range cases {
		if c.ExpectsOn {
			firing[c.Alert]++
		} else {
			quiet[c.Alert]++
		}
	}
	names := map[string]bool{}
	for _, rule := range rules {
		names[rule.Alert] = true
		if firing[rule.Alert] == 0 || quiet[rule.Alert] == 0 {
			t.Errorf("%s: %d firing and %d quiet cases, want at least one of each",
				rule.Alert, firing[rule.Alert], quiet[rule.Alert])
		}
	}
	for _, c := range cases {
		if !names[c.Alert] {
			t.Errorf("case %q tests unknown alert %s", c.Test, c.Alert)
		}
	}
	if len(rules) < 15 {
		t.Errorf("only %d rules", len(rules))
	}
}

// TestRulesHaveRunbooks: every alert is named Sequent…, once, has a severity of page or
// ticket, and a summary, a description and a runbook of numbered steps, using only the
// templates the generated tests can render.
func TestRulesHaveRunbooks(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rule := range rules {
		if !strings.HasPrefix(rule.Alert, "Sequent") || seen[rule.Alert] {
			t.Errorf("alert %q: not Sequent… or named twice", rule.Alert)
		}
		seen[rule.Alert] = true
		if severity := rule.Labels["severity"]; severity != "page" && severity != "ticket" {
			t.Errorf("%s: severity %q", rule.Alert, severity)
		}
		for _, name := range []string{"summary", "description", "runbook"} {
			text := rule.Annotations[name]
			if len(text) < 20 {
				t.Errorf("%s: %s %q too short", rule.Alert, name, text)
			}
			if _, err := RenderAnnotation(text, nil); err != nil {
				t.Errorf("%s: %v", rule.Alert, err)
			}
		}
		if !strings.HasPrefix(rule.Annotations["runbook"], "1. ") {
			t.Errorf("%s: the runbook is not numbered steps", rule.Alert)
		}
		if len(rule.Annotations) != 3 {
			t.Errorf("%s: annotations %v, want summary, description, runbook", rule.Alert,
				reflect.ValueOf(rule.Annotations).MapKeys())
		}
	}
}

// TestPromtool runs `promtool check rules` and `promtool test rules` on the shipped
// files, and checks the example scrape configuration with `promtool check config`.
func TestPromtool(t *testing.T) {
	promtool := FindTool(t, true, "promtool")
	dir := filepath.Join("prometheus")
	for _, args := range [][]string{
		{"check", "rules", "sequent-alerts.yml"},
		{"test", "rules", "sequent-alerts.test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		command := exec.Command(promtool, args...)
		command.Dir = dir
		output, err := command.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, output)
		}
	}
}

// TestPromtoolCatchesBrokenRule makes sure the promtool step can fail: a rule test
// expecting an alert that cannot fire must be reported.
func TestPromtoolCatchesBrokenRule(t *testing.T) {
	promtool := FindTool(t, true, "promtool")
	dir := t.TempDir()
	rules, _ := Files.ReadFile(RulesPath)
	os.WriteFile(filepath.Join(dir, "sequent-alerts.yml"), rules, 0o644)
	os.WriteFile(filepath.Join(dir, "t.yml"), []byte(`rule_files: [sequent-alerts.yml]
tests:
  - interval: 15s
    input_series:
      - series: 'up{job="sequent", instance="a:7401"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: SequentDown
        exp_alerts:
          - exp_labels: {severity: page, job: sequent, instance: "a:7401"}
`), 0o644)
	command := exec.Command(promtool, "test", "rules", "t.yml")
	command.Dir = dir
	if output, err := command.CombinedOutput(); err == nil {
		t.Fatalf("promtool passed a test that must fail:\n%s", output)
	}
}

// TestDashboard checks the dashboard's structure: valid JSON with a fixed uid, unique
// panel ids, panels inside the 24-column grid, every query panel on the ${datasource}
// variable with a description, and every query readable by MetricNames and naming at
// least one metric.
func TestDashboard(t *testing.T) {
	data, err := Files.ReadFile(DashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dashboard Dashboard
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	if dashboard.UID != "sequent-overview" || dashboard.Title == "" {
		t.Errorf("uid %q title %q", dashboard.UID, dashboard.Title)
	}
	ids := map[int]bool{}
	for _, panel := range dashboard.AllPanels() {
		if ids[panel.ID] {
			t.Errorf("panel id %d used twice", panel.ID)
		}
		ids[panel.ID] = true
		if panel.GridPos.X < 0 || panel.GridPos.W < 1 || panel.GridPos.X+panel.GridPos.W > 24 {
			t.Errorf("panel %d %q outside the grid: %+v", panel.ID, panel.Title, panel.GridPos)
		}
		if panel.Type == "row" {
			continue
		}
		if panel.Datasource == nil || panel.Datasource.UID != "${datasource}" ||
			panel.Description == "" || len(panel.Targets) == 0 {
			t.Errorf("panel %d %q: data source, description or targets missing", panel.ID,
				panel.Title)
		}
		for _, target := range panel.Targets {
			if target.Datasource == nil || target.Datasource.UID != "${datasource}" {
				t.Errorf("panel %d %q target %s: not on ${datasource}", panel.ID, panel.Title,
					target.RefID)
			}
		}
	}
	queries, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 60 {
		t.Errorf("only %d queries", len(queries))
	}
	for _, query := range queries {
		names, err := MetricNames(query.Expr)
		if err != nil || len(names) == 0 {
			t.Errorf("%s: %q: names %v, %v", query.Where, query.Expr, names, err)
		}
	}
}

// TestDashboardCoversTheIssue checks that each area the dashboard must show has a query
// on its metric: a panel removed by mistake fails here.
func TestDashboardCoversTheIssue(t *testing.T) {
	queries, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, query := range queries {
		names, _ := MetricNames(query.Expr)
		for _, name := range names {
			used[name] = true
		}
	}
	for _, name := range []string{
		"sequent_shard_operation_requests_total", "sequent_shard_results_total", // Throughput.
		"sequent_request_duration_seconds_bucket", "sequent_request_latency_seconds",
		"sequent_request_latency_seconds_sum",                               // Latency.
		"sequent_shard_ring_requests", "sequent_network_busy_replies_total", // Backpressure.
		"sequent_wal_write_latency_seconds_sum", "sequent_wal_sync_latency_seconds_sum",
		"sequent_wal_stored_bytes_total", // Log.
		"sequent_replication_lag_ops", "sequent_replication_lag_bytes",
		"sequent_replication_lag_seconds", "sequent_replication_degraded", // Replication.
		"sequent_network_connections", "sequent_network_connections_refused_total",
		"sequent_http_refusals_total",                                          // Connections and refusals.
		"sequent_shard_snapshots_total", "sequent_shard_snapshot_errors_total", // Snapshots.
		"sequent_stream_lag_ops", "sequent_capture_lag_seconds", // Outbound streams.
		"sequent_api_requests_total", "sequent_api_auth_failures_total",
		"sequent_api_refused_total", "sequent_api_busy_total", "sequent_api_rate_limited_total",
		"sequent_api_timeouts_total", "sequent_api_requests_inflight", // The JSON API.
	} {
		if !used[name] {
			t.Errorf("no dashboard query uses %s", name)
		}
	}
}

// TestMetricNames is the extractor's table: what it must find and what it must skip.
func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sequent_ready{job="x", instance=~"$instance"} == 0`, []string{"sequent_ready"}},
		{`sum by (job, instance) (rate(a_total{x="}"}[5m])) / sum without (shard) (rate(b_total[$__rate_interval]))`,
			[]string{"a_total", "b_total"}},
		{`max by (instance) (x) and on (job, instance) max by (job, instance) (y) == 1`,
			[]string{"x", "y"}},
		{`x * on (instance) group_left (version) sequent_build_info`, []string{"x", "sequent_build_info"}},
		{`x * on (instance) group_left sequent_build_info`, []string{"x", "sequent_build_info"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 1e-3`, []string{"h_bucket"}},
		{`predict_linear(avail[1h], 6 * 3600) < 0 offset 1h30m`, []string{"avail"}},
		{`changes(e[1h]) >= 2 or absent(f) unless g`, []string{"e", "f", "g"}},
		{`max_over_time(x[5m:1m]) > bool 3`, []string{"x"}},
		{`sum by () (x) + sum by(a)(x)`, []string{"x"}},
		{"x{a='it''s'} # a comment naming not_a_metric\n + y", []string{"x", "y"}},
		{`rate(x[${interval}]) + [[old_style]] * z`, []string{"x", "z"}},
		{`count(x) > Inf or NaN`, []string{"x"}},
		{`a:recorded:rate5m`, []string{"a:recorded:rate5m"}},
	}
	for _, c := range cases {
		got, err := MetricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("MetricNames(%q) = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[5m)`, `x{a="unterminated}`, `x ; y`, `x & y`} {
		if names, err := MetricNames(bad); err == nil {
			t.Errorf("MetricNames(%q) = %v, want an error", bad, names)
		}
	}
}

// systemdUnits are the shipped units and the directives each must keep.
var systemdUnits = map[string][]string{
	"sequent-primary.service": {"Conflicts=sequent-standby.service",
		"ExecStart=/usr/local/bin/sequent serve", "ReadWritePaths=/var/lib/sequent"},
	"sequent-standby.service": {"Conflicts=sequent-primary.service",
		"ExecStart=/usr/local/bin/sequent serve --standby-of ${SEQUENT_PEER}",
		"ReadWritePaths=/var/lib/sequent"},
	"sequent-witness.service": {"ExecStart=/usr/local/bin/sequent witness --state /var/lib/sequent/witness.state",
		"StateDirectory=sequent"},
}

// hardening are the directives every unit must carry.
var hardening = []string{
	"After=network-online.target", "Wants=network-online.target", "Restart=on-failure",
	"User=sequent", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict",
	"ProtectHome=yes", "CapabilityBoundingSet=", "LimitNOFILE=", "EnvironmentFile=/etc/sequent/",
	"WantedBy=multi-user.target",
}

// TestSystemdUnits checks the units' restart policy, hardening, ordering and settings
// file, and that the settings files set only variables the binary reads.
func TestSystemdUnits(t *testing.T) {
	entries, err := fs.ReadDir(Files, SystemdDir)
	if err != nil {
		t.Fatal(err)
	}
	units := 0
	for _, entry := range entries {
		if !strings.HasSuffix(entry.Name(), ".service") {
			continue
		}
		units++
		data, _ := Files.ReadFile(SystemdDir + "/" + entry.Name())
		lines := strings.Split(string(data), "\n")
		for _, directive := range append(slices.Clone(hardening), systemdUnits[entry.Name()]...) {
			if !slices.ContainsFunc(lines, func(line string) bool {
				return strings.HasPrefix(line, directive)
			}) {
				t.Errorf("%s: no %s", entry.Name(), directive)
			}
		}
	}
	if units != len(systemdUnits) {
		t.Errorf("%d units, want %d", units, len(systemdUnits))
	}
	for _, name := range []string{"node.env", "witness.env"} {
		data, err := Files.ReadFile(SystemdDir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimPrefix(line, "#")
			if key, _, ok := strings.Cut(line, "="); ok && !strings.Contains(key, " ") &&
				!strings.HasPrefix(key, "SEQUENT_") {
				t.Errorf("%s: %s is not a SEQUENT_ variable", name, key)
			}
		}
	}
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on the units (with the binary
// path pointed at an existing executable) and fails on any complaint about them,
// including the warnings it prints for unknown or misspelled directives.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := FindTool(t, false, "systemd-analyze")
	executable, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for name := range systemdUnits {
		data, _ := Files.ReadFile(SystemdDir + "/" + name)
		path := filepath.Join(dir, name)
		data = bytes.ReplaceAll(data, []byte("/usr/local/bin/sequent"), []byte(executable))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	slices.Sort(paths)
	output, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || strings.Contains(string(output), "sequent-") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, output)
	}
	// The check must be able to fail: a misspelled directive is reported.
	broken := filepath.Join(dir, "sequent-broken.service")
	data, _ := Files.ReadFile(SystemdDir + "/sequent-witness.service")
	data = bytes.ReplaceAll(data, []byte("/usr/local/bin/sequent"), []byte(executable))
	os.WriteFile(broken, bytes.Replace(data, []byte("NoNewPrivileges"), []byte("NoNewPrivilege"), 1), 0o644)
	if output, _ := exec.Command(analyze, "verify", broken).CombinedOutput(); !strings.Contains(string(output), "NoNewPrivilege") {
		t.Errorf("systemd-analyze did not report a misspelled directive:\n%s", output)
	}
}
