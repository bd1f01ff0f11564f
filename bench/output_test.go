package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestIntervalLogAndPlot runs a short load with an interval log, reads the log back with
// HdrHistogram's reader (the intervals hold every measured request) and checks that the
// chart is a well-formed SVG document with one line per series.
func TestIntervalLogAndPlot(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	var log bytes.Buffer
	config.IntervalLog = &log
	result := runOrFail(t, config)
	if result.IntervalLogErr != nil {
		t.Fatal(result.IntervalLogErr)
	}
	reader := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log.Bytes()))
	var requests, events int64
	for {
		interval, err := reader.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if interval == nil {
			break
		}
		if interval.Tag() == "events" {
			events += interval.TotalCount()
		} else {
			requests += interval.TotalCount()
		}
	}
	if uint64(requests) != result.Report.RequestsCompleted ||
		uint64(events) != result.Report.EventsCompleted {
		t.Fatalf("log holds %d requests and %d events, want %d and %d", requests, events,
			result.Report.RequestsCompleted, result.Report.EventsCompleted)
	}
	var plot bytes.Buffer
	if err := WritePlot(&plot, result); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, plot.Bytes(), 2)
}

// checkSVG parses document as XML and checks its root and its number of polylines.
func checkSVG(t *testing.T, document []byte, lines int) {
	t.Helper()
	decoder := xml.NewDecoder(bytes.NewReader(document))
	root, polylines := "", 0
	for {
		token, err := decoder.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if start, ok := token.(xml.StartElement); ok {
			if root == "" {
				root = start.Name.Local
			}
			if start.Name.Local == "polyline" {
				polylines++
			}
		}
	}
	if root != "svg" || polylines != lines {
		t.Fatalf("root %q with %d polylines, want svg with %d", root, polylines, lines)
	}
}

// TestReportJSONFields checks the documented field names of the JSON report.
func TestReportJSONFields(t *testing.T) {
	h := newHarness(t, lieNone)
	result := runOrFail(t, h.config())
	encoded, err := json.Marshal(&result.Report)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(encoded, &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mode", "config", "duration_s", "requests_sent",
		"requests_completed", "requests_failed", "requests_unsent", "events_sent",
		"events_completed", "warmup_requests", "events_per_s", "requests_per_s",
		"offered_requests_per_s", "latency_us", "event_latency_us", "results",
		"request_statuses", "workloads", "invariant_ok", "invariant", "machine"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("no field %q", name)
		}
	}
	latency, _ := fields["latency_us"].(map[string]any)
	for _, name := range []string{"p50", "p90", "p99", "p999", "p9999", "max", "mean",
		"count"} {
		if _, ok := latency[name]; !ok {
			t.Errorf("no field latency_us.%s", name)
		}
	}
	var text strings.Builder
	WriteText(&text, &result.Report)
	if !strings.Contains(text.String(), "invariant: ok") {
		t.Fatalf("text report:\n%s", text.String())
	}
}

// TestServerStatusChanges flattens two status documents and lists what changed.
func TestServerStatusChanges(t *testing.T) {
	decode := func(text string) map[string]any {
		decoder := json.NewDecoder(strings.NewReader(text))
		decoder.UseNumber()
		var document map[string]any
		if err := decoder.Decode(&document); err != nil {
			t.Fatal(err)
		}
		return document
	}
	before := decode(`{"role":"primary","shards":[{"requests":5,"ops":1}],"up":1}`)
	after := decode(`{"role":"primary","shards":[{"requests":9,"ops":1}],"up":2,"new":3}`)
	status := serverStatus("127.0.0.1:1", before, after)
	var fields []string
	for _, change := range status.Changed {
		fields = append(fields, change.Field)
	}
	if got := strings.Join(fields, ","); got != "new,shards.0.requests,up" {
		t.Fatalf("changed fields %s", got)
	}
	if status.URL != "http://127.0.0.1:1/v1/status" || serverStatus("x", nil, nil) != nil {
		t.Fatalf("url %s", status.URL)
	}
}
