package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"

	"sequent/tools/testlog"
)

// metricsPanicChild is the environment variable that makes
// TestMetricsSourcePanicEndsTheProcess run as its own child process; its value names the
// source that panics ("snapshot" or "latency").
const metricsPanicChild = "SEQUENT_OPS_METRICS_PANIC_CHILD"

// metricsPanicSurvived is what the child prints when the scrape returned: the panic did
// not end the process.
const metricsPanicSurvived = "metrics scrape survived the source's panic"

// childRunBound bounds the child process, so that a hang fails the test instead of
// stalling it; it is not a speed assertion.
const childRunBound = 2 * time.Minute

// TestMetricsSourcePanicEndsTheProcess: a panic out of a source that reads the node, met
// on a /metrics scrape, must end the process, as the same panic does on /v1/status
// (TestSourcePanicIsNotRecovered, httpguard.Unguarded): the node may hold a lock the
// panic skipped. /metrics reaches Sources.Snapshot and ConsoleSources.LatencyHistograms
// from the registry's collectors, outside Unguarded, and client_golang's Registry.Gather
// recovers every collector's panic (safeCollect) and turns it into a gather error: the
// scrape answers 200 without those series, the server logs a Warn, nothing is counted in
// sequent_http_panics_total, and the process goes on. Prometheus calls Snapshot this way
// on every scrape. A process can only be seen to die from outside, so the test runs
// itself as a child that scrapes once.
//
// It also holds ops/doc.go to its word ("the collectors run unguarded").
//
// FAILS at 2f150c5 (both cases): the child prints metricsPanicSurvived and exits 0.
func TestMetricsSourcePanicEndsTheProcess(t *testing.T) {
	if source := os.Getenv(metricsPanicChild); source != "" {
		scrapeWithPanickingSource(t, source)
		return
	}
	for source, value := range map[string]string{"snapshot": "replication state corrupt",
		"latency": "latency histograms corrupt"} {
		t.Run(source, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), childRunBound)
			defer cancel()
			command := exec.CommandContext(ctx, os.Args[0],
				"-test.run=^TestMetricsSourcePanicEndsTheProcess$", "-test.count=1", "-test.v")
			command.Env = append(os.Environ(), metricsPanicChild+"="+source)
			output, err := command.CombinedOutput()
			text := string(output)
			if strings.Contains(text, metricsPanicSurvived) || err == nil {
				t.Fatalf("a panic in the %s source on /metrics did not end the process "+
					"(exit %v); child output:\n%s", source, err, text)
			}
			if !strings.Contains(text, value) {
				t.Errorf("the crash does not name the panic %q; child output:\n%s", value, text)
			}
		})
	}
}

// scrapeWithPanickingSource is the child's side: one /metrics scrape, through the
// server's handler, with the named source panicking. If the process is still alive
// after it, it says so.
func scrapeWithPanickingSource(t *testing.T, source string) {
	sources := newFakeSources().sources()
	switch source {
	case "snapshot":
		sources.Snapshot = func() Snapshot { panic("replication state corrupt") }
	case "latency":
		sources.Console.LatencyHistograms = func() map[string]*hdrhistogram.Snapshot {
			panic("latency histograms corrupt")
		}
	default:
		t.Fatalf("unknown source %q", source)
	}
	var log testlog.Buffer
	server, err := New(Config{Address: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&log, nil))}, sources)
	if err != nil {
		t.Fatal(err)
	}
	var request fasthttp.Request
	request.Header.SetMethod(fasthttp.MethodGet)
	request.SetRequestURI(PathMetrics)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	server.handle(ctx)
	fmt.Printf("%s: answered %d, %d panics counted; log:\n%s\n", metricsPanicSurvived,
		ctx.Response.StatusCode(), server.guard.Panics(), log.String())
}
