package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/bench"
)

// runBenchCommand runs `sequent bench args...` and returns its stdout, stderr and error.
func runBenchCommand(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCommand()
	root.AddCommand(newBenchCommand())
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"bench"}, args...))
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// checkUsageError checks what main would do with err: exit 2 with a one-line message.
func checkUsageError(t *testing.T, err error, args []string) {
	t.Helper()
	var usage usageError
	if !errors.As(err, &usage) {
		t.Fatalf("%v: error %v, want a usage error (exit 2)", args, err)
	}
	if message := err.Error(); strings.Contains(message, "\n") || message == "" {
		t.Fatalf("%v: message is not one line: %q", args, message)
	}
}

// TestBenchBadFlags: each bad flag or value is a usage error, on one line, naming the
// problem, before anything connects.
func TestBenchBadFlags(t *testing.T) {
	for _, test := range []struct {
		args []string
		word string // In the message.
	}{
		{[]string{"--nope"}, "unknown flag"},
		{[]string{"--connections", "0"}, "--connections"},
		{[]string{"--connections", "x"}, "connections"},
		{[]string{"--inflight", "0"}, "--inflight"},
		{[]string{"--events", "9000"}, "events"},
		{[]string{"--inflight", "1000"}, "inflight"},
		{[]string{"--mix", "bogus"}, "bogus"},
		{[]string{"--mix", "linked", "--events", "1"}, "linked"},
		{[]string{"--account-choice", "random"}, "random"},
		{[]string{"--account-choice", "zipf", "--zipf-skew", "1"}, "zipf"},
		{[]string{"--rate", "-5"}, "rate"},
		{[]string{"--plot", "chart.png"}, "SVG"},
		{[]string{"--duration", "0s"}, "duration"},
		{[]string{"--embedded", "--sync", "sometimes"}, "sometimes"},
		{[]string{"--secret", "zz", "--client-id", "1", "--key-id", "1"}, "hex"},
		{[]string{"--keys", "/nonexistent/keys.json"}, "credentials"},
		{[]string{"extra-argument"}, "extra-argument"},
		{[]string{"--driver", "lean"}, "lean"},
		{[]string{"--driver", "wire", "--rate", "100"}, "open loop"},
		{[]string{"--driver", "wire", "--callers", "4"}, "callers"},
		{[]string{"--driver", "wire", "--mix", "orders"}, "orders"},
		{[]string{"--driver", "wire", "--mix", "orders", "--md-subscribers", "1"}, "orders"},
		{[]string{"--client-order-ids-increasing"}, "order workload"},
		{[]string{"--mix", "orders", "--client-order-ids-increasing", "--run-id", "5"}, "run id 5"},
	} {
		_, _, err := runBenchCommand(t, test.args...)
		checkUsageError(t, err, test.args)
		if !strings.Contains(err.Error(), test.word) {
			t.Errorf("%v: %q does not mention %q", test.args, err, test.word)
		}
	}
}

// TestBenchUnreachable: no server on the port is a usage-class failure (exit 2) with a
// one-line message.
func TestBenchUnreachable(t *testing.T) {
	args := []string{"--addr", "127.0.0.1:1", "--client-id", "1", "--key-id", "1",
		"--secret", strings.Repeat("ab", 32), "--count", "1"}
	_, _, err := runBenchCommand(t, args...)
	checkUsageError(t, err, args)
	if !errors.Is(err, bench.ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
}

// TestBenchJSONAndFiles runs against the fake shard with --json, --hlog and --plot:
// stdout is exactly one JSON object with the documented fields, the interval log and the
// SVG chart are written and well formed, and progress went to stderr only.
func TestBenchJSONAndFiles(t *testing.T) {
	address, keys := startTestServer(t)
	dir := t.TempDir()
	hlog, plot := filepath.Join(dir, "run.hlog"), filepath.Join(dir, "run.svg")
	stdout, _, err := runBenchCommand(t, "--addr", address, "--keys", keys, "--json",
		"--count", "60", "--connections", "2", "--inflight", "3", "--events", "4",
		"--warmup", "0s", "--mix", "single=2,two-phase=1,linked=1", "--hlog", hlog,
		"--plot", plot, "--http", "")
	if err != nil {
		t.Fatal(err)
	}
	report := decodeReport(t, stdout)
	if report.RequestsSent != 60 || report.EventsCompleted != 240 || !report.InvariantOK {
		t.Fatalf("sent %d, events %d, invariant %v", report.RequestsSent,
			report.EventsCompleted, report.InvariantOK)
	}
	for _, path := range []string{hlog, plot} {
		if info, err := os.Stat(path); err != nil || info.Size() == 0 {
			t.Fatalf("%s: %v (empty or missing)", path, err)
		}
	}
	document, _ := os.ReadFile(plot)
	if err := xml.Unmarshal(document, new(struct {
		XMLName xml.Name `xml:"svg"`
	})); err != nil {
		t.Fatalf("plot is not an SVG document: %v", err)
	}
	log, _ := os.ReadFile(hlog)
	if !strings.Contains(string(log), "#[Histogram log format version") {
		t.Fatalf("interval log without its header:\n%.300s", log)
	}
}

// decodeReport parses stdout as exactly one JSON object with the documented fields.
func decodeReport(t *testing.T, stdout string) bench.Report {
	t.Helper()
	decoder := json.NewDecoder(strings.NewReader(stdout))
	var fields map[string]any
	if err := decoder.Decode(&fields); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if decoder.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", stdout)
	}
	for _, name := range []string{"events_per_s", "requests_per_s", "latency_us",
		"results", "invariant_ok"} {
		if _, ok := fields[name]; !ok {
			t.Fatalf("no field %q in %s", name, stdout)
		}
	}
	var report bench.Report
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatal(err)
	}
	return report
}

// TestBenchEmbeddedOrdersAndTransfers runs every workload at once against an embedded
// node (the real server: log, matching engine, ledger): the run sets up the instrument
// and funded traders, and the final check (posted and pending balances per ledger, no
// hold left after the final mass cancel, every transfer accounted for) holds; the
// embedded server's status endpoint is read; stdout carries only the JSON report.
func TestBenchEmbeddedOrdersAndTransfers(t *testing.T) {
	stdout, _, err := runBenchCommand(t, "--embedded", "--json", "--quiet",
		"--duration", "1s", "--warmup", "200ms", "--connections", "2", "--inflight", "2",
		"--events", "4", "--accounts", "40",
		"--mix", "single=1,two-phase=1,linked=1,orders=4")
	if err != nil {
		t.Fatal(err)
	}
	report := decodeReport(t, stdout)
	if !report.InvariantOK || report.RequestsCompleted == 0 ||
		report.RequestsFailed != 0 {
		t.Fatalf("invariant %v (%v), completed %d, failed %d", report.InvariantOK,
			report.Invariant.Problems, report.RequestsCompleted, report.RequestsFailed)
	}
	if report.Workloads["orders"] == 0 || report.Results["ok"] == 0 ||
		len(report.Invariant.Ledgers) != 3 {
		t.Fatalf("workloads %v, results %v, ledgers %v", report.Workloads, report.Results,
			report.Invariant.Ledgers)
	}
	if report.ServerStatus == nil || len(report.ServerStatus.Changed) == 0 {
		t.Fatalf("no server status: %+v", report.ServerStatus)
	}
}

// TestBenchInvariantFailureExitsOne: a report whose invariant check failed is printed
// and the command fails with an ordinary error (exit 1), not a usage error.
func TestBenchInvariantFailureExitsOne(t *testing.T) {
	command := newBenchCommand()
	var stdout bytes.Buffer
	command.SetOut(&stdout)
	result := &bench.Result{Report: bench.Report{InvariantOK: false,
		Invariant: bench.InvariantReport{Problems: []string{"ledger 1: planted"},
			ProblemCount: 1}}}
	err := (&benchOptions{}).output(command, result, nil)
	var usage usageError
	if err == nil || errors.As(err, &usage) || !strings.Contains(err.Error(), "planted") {
		t.Fatalf("error %v, want an ordinary error naming the problem", err)
	}
	if !strings.Contains(stdout.String(), "FAILED") {
		t.Fatalf("report not printed:\n%s", stdout.String())
	}
}

// TestBenchEmbeddedReportsTransferTableGrowth: an embedded run that stores more
// transfers than --transfers-capacity says in its report that the server's tables grew
// (so its figures are not taken for steady state), and the target names the capacity;
// with the default capacity (sized for the run) a modest run stays within it.
func TestBenchEmbeddedReportsTransferTableGrowth(t *testing.T) {
	args := []string{"--embedded", "--quiet", "--count", "40", "--warmup", "0s",
		"--connections", "1", "--inflight", "2", "--events", "50", "--accounts", "20",
		"--http", ""}
	stdout, _, err := runBenchCommand(t, append(args, "--transfers-capacity", "1000")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "transfer table: GREW during the run: up to 2,000 "+
		"transfers stored on a shard, above the 1,000") ||
		!strings.Contains(stdout, "--transfers-capacity 1000)") {
		t.Fatalf("growth past --transfers-capacity 1000 not reported:\n%s", stdout)
	}
	stdout, _, err = runBenchCommand(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	report := decodeReport(t, stdout)
	table := report.TransferTable
	if table == nil || table.Grew || table.StoredMost != 2000 ||
		table.CapacityPerShard != bench.TransfersCapacityMin || !report.InvariantOK {
		t.Fatalf("default capacity: transfer table %+v, invariant %v", table,
			report.InvariantOK)
	}
}
