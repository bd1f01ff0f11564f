package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"sequent/core/model"
)

// TestConsoleAssets serves the page and its two assets with their content types and the
// security headers (scripts and styles from this server only, never framed), answers
// HEAD without a body, refuses other methods with 405, and answers 404 for other names
// under /console/. Every file the page references is served.
func TestConsoleAssets(t *testing.T) {
	server := startServer(t, Config{}, newFakeSources().sources())
	page := get(t, server, PathConsole)
	if page.code != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", page.code, page.header.Get("Content-Type"))
	}
	for _, reference := range []string{`src="/console/console.js"`, `href="/console/console.css"`} {
		if !strings.Contains(string(page.body), reference) {
			t.Errorf("page does not reference %s", reference)
		}
	}
	for path, contentType := range map[string]string{
		PathConsole:                         "text/html",
		consoleAssetsPrefix + "console.js":  "text/javascript",
		consoleAssetsPrefix + "console.css": "text/css",
	} {
		result := get(t, server, path)
		if result.code != 200 || len(result.body) < 100 ||
			!strings.HasPrefix(result.header.Get("Content-Type"), contentType) {
			t.Errorf("%s: %d, %d bytes, %s", path, result.code, len(result.body),
				result.header.Get("Content-Type"))
		}
		for _, header := range consoleSecurityHeaders {
			if got := result.header.Get(header[0]); got != header[1] {
				t.Errorf("%s: %s = %q", path, header[0], got)
			}
		}
		head := call(t, nil, http.MethodHead, "http://"+server.Address()+path, "", nil, nil)
		if head.code != 200 || len(head.body) != 0 {
			t.Errorf("HEAD %s: %d, %d bytes", path, head.code, len(head.body))
		}
		posted := post(t, server, path, "")
		if posted.code != 405 || posted.header.Get("Allow") != allowRead {
			t.Errorf("POST %s: %d, Allow %q", path, posted.code, posted.header.Get("Allow"))
		}
	}
	if script := get(t, server, consoleAssetsPrefix+"console.js"); strings.Contains(string(script.body), "innerHTML") {
		t.Error("console.js uses innerHTML: server text must only be set with textContent")
	}
	for _, path := range []string{consoleAssetsPrefix + "index.html", consoleAssetsPrefix,
		consoleAssetsPrefix + "../console.go", "/index.html"} {
		if result := get(t, server, path); result.code != 404 {
			t.Errorf("%s: %d, want 404", path, result.code)
		}
	}
}

// TestConsoleAllowList checks that the page and the console's endpoints are behind the
// same allow-list as every other endpoint (and, like the status endpoints, need no
// token).
func TestConsoleAllowList(t *testing.T) {
	sources := newFakeSources().sources()
	sources.Console = fakeConsoleSources(nil)
	closed := startServer(t, Config{AllowCIDRs: []string{"10.0.0.0/8"}}, sources)
	open := startServer(t, Config{AllowCIDRs: []string{"127.0.0.0/8"}}, sources)
	for _, path := range []string{PathConsole, consoleAssetsPrefix + "console.js", PathLatency,
		PathDepth + "?instrument=7"} {
		if result := get(t, closed, path); result.code != 403 ||
			result.reply(t).Code != CodeAddressNotAllowed {
			t.Errorf("%s from outside the allow-list: %d %s", path, result.code, result.body)
		}
		if result := get(t, open, path); result.code != 200 {
			t.Errorf("%s from inside the allow-list: %d %s", path, result.code, result.body)
		}
	}
}

// fakeConsoleSources serves a fixed book for instrument 7 (unknown elsewhere) and
// histograms that move by what next adds each call. It counts depth reads.
func fakeConsoleSources(reads *atomic.Int64) ConsoleSources {
	histogram := hdrhistogram.New(1, 60_000_000, 2)
	var mutex sync.Mutex // Two servers may share these sources.
	return ConsoleSources{
		LatencyHistograms: func() map[string]*hdrhistogram.Snapshot {
			mutex.Lock()
			defer mutex.Unlock()
			histogram.RecordValue(100)
			return map[string]*hdrhistogram.Snapshot{"create_transfers": histogram.Export()}
		},
		Depth: func(instrument, levels uint32) ([]model.DepthLevel, model.Status, error) {
			if reads != nil {
				reads.Add(1)
			}
			switch instrument {
			case 7:
				return []model.DepthLevel{
					{Price: 100, Quantity: model.U128(5), OrderCount: 2, Side: model.SideBuy},
					{Price: 99, Quantity: model.Uint128{Hi: 1, Lo: 0}, OrderCount: 1,
						Side: model.SideBuy},
					{Price: 1<<63 + 1, Quantity: model.U128(3), OrderCount: 1,
						Side: model.SideSell},
				}[:min(int(levels)*2, 3)], model.StatusOK, nil
			case 8:
				return nil, model.StatusNotPrimary, nil
			case 9:
				return nil, 0, errors.New("not answered in time")
			}
			return nil, model.StatusInstrumentNotFound, nil
		},
	}
}

// startConsoleServer runs a server whose console sources are fakeConsoleSources(reads).
func startConsoleServer(t *testing.T, reads *atomic.Int64) *Server {
	t.Helper()
	sources := newFakeSources().sources()
	sources.Console = fakeConsoleSources(reads)
	return startServer(t, Config{}, sources)
}

// TestDepth checks /v1/depth: the book split by side with exact decimal prices and
// quantities (beyond 2^53), each error mapped to its status and code, and arguments that
// are not exactly instrument and levels refused with 400.
func TestDepth(t *testing.T) {
	server := startConsoleServer(t, nil)
	result := get(t, server, PathDepth+"?instrument=7")
	var depth Depth
	if err := json.Unmarshal(result.body, &depth); err != nil || result.code != 200 {
		t.Fatalf("%d %s: %v", result.code, result.body, err)
	}
	want := Depth{Instrument: 7,
		Bids: []DepthLevel{{Price: "100", Quantity: "5", Orders: 2},
			{Price: "99", Quantity: "18446744073709551616", Orders: 1}},
		Asks: []DepthLevel{{Price: "9223372036854775809", Quantity: "3", Orders: 1}}}
	if !reflect.DeepEqual(depth, want) {
		t.Errorf("depth %+v, want %+v", depth, want)
	}
	for _, c := range []struct {
		query string
		code  int
		reply string
	}{
		{"?instrument=5", 404, CodeInstrumentNotFound},
		{"?instrument=8", 503, CodeUnavailable},
		{"?instrument=9", 504, CodeTimeout},
		{"", 400, CodeBadRequest},
		{"?instrument=0", 400, CodeBadRequest},
		{"?instrument=-1", 400, CodeBadRequest},
		{"?instrument=4294967296", 400, CodeBadRequest},
		{"?instrument=7&levels=0", 400, CodeBadRequest},
		{"?instrument=7&levels=51", 400, CodeBadRequest},
		{"?instrument=7&instrument=8", 400, CodeBadRequest},
		{"?instrument=7&side=buy", 400, CodeBadRequest},
		{"?levels=3", 400, CodeBadRequest},
	} {
		result := get(t, server, PathDepth+c.query)
		if result.code != c.code || result.reply(t).Code != c.reply {
			t.Errorf("%q: %d %s, want %d %s", c.query, result.code, result.body, c.code, c.reply)
		}
	}
	if result := get(t, server, PathDepth+"?instrument=7&levels=1"); result.code != 200 ||
		!strings.Contains(string(result.body), `"asks":[]`) {
		t.Errorf("levels=1: %d %s", result.code, result.body)
	}
	without := startServer(t, Config{}, newFakeSources().sources())
	for _, path := range []string{PathDepth + "?instrument=7", PathLatency} {
		if result := get(t, without, path); result.code != 501 ||
			result.reply(t).Code != CodeNotImplemented {
			t.Errorf("%s without a source: %d %s", path, result.code, result.body)
		}
	}
}

// TestDepthCache checks that repeated /v1/depth requests within depthCacheTime cost the
// node one read, and that another instrument, or the same one later, reads again.
func TestDepthCache(t *testing.T) {
	var reads atomic.Int64
	server := startConsoleServer(t, &reads)
	// Taken before the first request: the answer is cached from a moment after this, so
	// requests sent within depthCacheTime of it are surely within the cache time (taken
	// after, a first request slow to return could leave the cache expiring early in the
	// window, and a second read counted as a fault).
	start := time.Now()
	first := get(t, server, PathDepth+"?instrument=7")
	for range 5 {
		if again := get(t, server, PathDepth+"?instrument=7"); string(again.body) != string(first.body) {
			t.Fatalf("cached answer differs: %s", again.body)
		}
	}
	if time.Since(start) < depthCacheTime && reads.Load() != 1 {
		t.Errorf("%d reads for 6 requests within the cache time, want 1", reads.Load())
	}
	before := reads.Load()
	get(t, server, PathDepth+"?instrument=5")
	if reads.Load() != before+1 {
		t.Errorf("another instrument was answered from the cache")
	}
	time.Sleep(depthCacheTime)
	get(t, server, PathDepth+"?instrument=5")
	if reads.Load() != before+2 {
		t.Errorf("an answer older than the cache time was reused")
	}
}

// TestDepthCacheHoldsSeveralInstruments: consoles watching different instruments share
// the cache. It held one answer, so requests alternating two instruments each reached
// the sequencer, and its "four reads a second" held for one instrument only. Within the
// cache time each instrument is read once however the requests alternate; after it,
// once more. The clock is the test's.
func TestDepthCacheHoldsSeveralInstruments(t *testing.T) {
	var reads atomic.Int64
	server := startConsoleServer(t, &reads)
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	for round := range 5 {
		for _, instrument := range []string{"7", "5"} {
			get(t, server, PathDepth+"?instrument="+instrument)
		}
		if got := reads.Load(); got != 2 {
			t.Fatalf("round %d of alternating two instruments within the cache time: %d reads, want 2",
				round+1, got)
		}
	}
	clock.advance(depthCacheTime)
	get(t, server, PathDepth+"?instrument=7")
	if got := reads.Load(); got != 3 {
		t.Fatalf("after the cache time: %d reads, want 3", got)
	}
}

// TestDepthCacheIsBounded: the cache holds at most depthCacheEntriesMax answers; a new
// one when it is full takes the place of the oldest, so the newest are still served.
func TestDepthCacheIsBounded(t *testing.T) {
	var cache depthCache
	now := time.Unix(1_000_000, 0)
	for i := range depthCacheEntriesMax + 10 {
		cache.put(uint32(i+1), 10, now.Add(time.Duration(i)), 200, i)
	}
	if len(cache.entries) != depthCacheEntriesMax {
		t.Fatalf("%d entries cached, want at most %d", len(cache.entries), depthCacheEntriesMax)
	}
	if _, _, ok := cache.get(1, 10, now); ok {
		t.Error("the oldest answer was kept past the bound")
	}
	newest := uint32(depthCacheEntriesMax + 10)
	if _, body, ok := cache.get(newest, 10, now); !ok || body != int(newest-1) {
		t.Errorf("the newest answer: %v %v", body, ok)
	}
}

// TestLatencyHistory feeds the history cumulative histograms and checks each sample holds
// only its interval's latencies, over every operation, with an operation that appears
// later counted whole, and that the ring keeps the newest latencySamplesMax in order.
func TestLatencyHistory(t *testing.T) {
	transfers := hdrhistogram.New(1, 60_000_000, 2)
	lookups := hdrhistogram.New(1, 60_000_000, 2)
	current := map[string]*hdrhistogram.Histogram{"create_transfers": transfers}
	history := newLatencyHistory(func() map[string]*hdrhistogram.Snapshot {
		snapshots := map[string]*hdrhistogram.Snapshot{}
		for name, histogram := range current {
			snapshots[name] = histogram.Export()
		}
		return snapshots
	})
	record := func(histogram *hdrhistogram.Histogram, value int64, count int) {
		for range count {
			histogram.RecordValue(value)
		}
	}
	at := time.Unix(1000, 0)
	record(transfers, 50_000, 1000) // Before the baseline: never in a sample.
	history.sample(at)
	if got := history.history().Samples; len(got) != 0 {
		t.Fatalf("the baseline made a sample: %+v", got)
	}
	record(transfers, 100, 99)
	record(transfers, 10_000, 1)
	history.sample(at.Add(2 * time.Second))
	current["lookup_accounts"] = lookups
	record(lookups, 20, 300) // A new operation: all of it is in this interval.
	history.sample(at.Add(4 * time.Second))
	history.sample(at.Add(6 * time.Second)) // Nothing happened.
	samples := history.history().Samples
	if len(samples) != 3 {
		t.Fatalf("%d samples, want 3", len(samples))
	}
	first, second, third := samples[0], samples[1], samples[2]
	if first.TimeUnixMs != 1_002_000 || first.Requests != 100 || !within(first.P50Us, 100) ||
		!within(first.P99Us, 100) || !within(first.MaxUs, 10_000) {
		t.Errorf("first interval %+v: want 100 requests, p50 and p99 100 µs, max 10 ms", first)
	}
	if second.Requests != 300 || !within(second.P50Us, 20) || !within(second.MaxUs, 20) {
		t.Errorf("second interval %+v: want the 300 new lookups at 20 µs", second)
	}
	if third.Requests != 0 || third.P50Us != 0 || third.MaxUs != 0 {
		t.Errorf("quiet interval %+v: want nothing", third)
	}
	for i := range latencySamplesMax + 5 {
		history.sample(at.Add(time.Duration(8+2*i) * time.Second))
	}
	samples = history.history().Samples
	if len(samples) != latencySamplesMax {
		t.Fatalf("%d samples kept, want %d", len(samples), latencySamplesMax)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].TimeUnixMs-samples[i-1].TimeUnixMs != 2000 {
			t.Fatalf("samples out of order at %d: %d then %d", i, samples[i-1].TimeUnixMs,
				samples[i].TimeUnixMs)
		}
	}
	if last := samples[len(samples)-1].TimeUnixMs; last != at.Add(time.Duration(8+2*(latencySamplesMax+4))*time.Second).UnixMilli() {
		t.Errorf("newest sample at %d", last)
	}
}

// within reports whether an HdrHistogram value (2 significant digits) is want.
func within(got, want int64) bool {
	return got >= want*99/100 && got <= want*101/100+1
}

// TestLatencyEndpoint checks /v1/latency on a running server: the sampler runs from
// Start (the fake's histograms grow by one request per call, so samples appear), and
// Shutdown stops it.
func TestLatencyEndpoint(t *testing.T) {
	server := startConsoleServer(t, nil)
	var history LatencyHistory
	deadline := time.Now().Add(20 * time.Second)
	for len(history.Samples) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no latency sample after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
		result := get(t, server, PathLatency)
		if err := json.Unmarshal(result.body, &history); err != nil || result.code != 200 {
			t.Fatalf("%d %s: %v", result.code, result.body, err)
		}
	}
	if history.IntervalSeconds != latencySampleInterval.Seconds() ||
		history.WindowSeconds != latencySampleInterval.Seconds()*latencySamplesMax ||
		history.Samples[0].Requests != 1 || !within(history.Samples[0].P50Us, 100) {
		t.Errorf("history %+v", history)
	}
}

// TestRequestDurationHistogram checks sequent_request_duration_seconds against known
// latencies: each value lands in the first bucket at or above it (never below), the
// counts are cumulative, values beyond the last bound only in the count, and the sum is
// the values' total in seconds.
func TestRequestDurationHistogram(t *testing.T) {
	histogram := hdrhistogram.New(1, 60_000_000, 2)
	for _, value := range []struct{ microseconds, count int64 }{
		{40, 10}, {100, 5}, {3_000, 3}, {700_000, 1}, {30_000_000, 1}} {
		for range value.count {
			histogram.RecordValue(value.microseconds)
		}
	}
	sources := newFakeSources().sources()
	sources.Console.LatencyHistograms = func() map[string]*hdrhistogram.Snapshot {
		return map[string]*hdrhistogram.Snapshot{"create_transfers": histogram.Export()}
	}
	server := startServer(t, Config{}, sources)
	family, ok := scrape(t, server)["sequent_request_duration_seconds"]
	if !ok || len(family.Metric) != 1 {
		t.Fatalf("no single sequent_request_duration_seconds series: %v", family)
	}
	problems, err := promlint.NewWithMetricFamilies([]*dto.MetricFamily{family}).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
	got := family.Metric[0].GetHistogram()
	if got.GetSampleCount() != 20 {
		t.Errorf("count %d, want 20", got.GetSampleCount())
	}
	wantSum := (10*40 + 5*100 + 3*3_000 + 700_000 + 30_000_000) * 1e-6
	if sum := got.GetSampleSum(); sum < wantSum*0.99 || sum > wantSum*1.01 {
		t.Errorf("sum %v, want %v within 1%%", sum, wantSum)
	}
	// 40 µs ≤ 50 µs; 100 µs is on the 100 µs bound (le is inclusive); 3 ms ≤ 5 ms;
	// 700 ms ≤ 1 s; 30 s is beyond 10 s: only in the count.
	want := map[float64]uint64{50e-6: 10, 100e-6: 15, 250e-6: 15, 2.5e-3: 15, 5e-3: 18,
		500e-3: 18, 1: 19, 10: 19}
	for _, bucket := range got.GetBucket() {
		if count, ok := want[bucket.GetUpperBound()]; ok && bucket.GetCumulativeCount() != count {
			t.Errorf("le=%v: %d, want %d", bucket.GetUpperBound(), bucket.GetCumulativeCount(), count)
		}
		delete(want, bucket.GetUpperBound())
	}
	if len(want) > 0 {
		t.Errorf("buckets missing: %v", want)
	}
	if _, ok := scrape(t, startServer(t, Config{}, newFakeSources().sources()))["sequent_request_duration_seconds"]; ok {
		t.Error("a histogram served without a source")
	}
}

// FuzzDepthArguments feeds arbitrary query strings to /v1/depth's argument parser: it
// never panics, whatever it accepts is in range and names each argument once, and the
// canonical form of an accepted query parses to the same values.
func FuzzDepthArguments(f *testing.F) {
	for _, seed := range []string{"instrument=7", "instrument=7&levels=50", "levels=3",
		"instrument=0", "instrument=7&instrument=8", "instrument=7&levels=1&levels=2",
		"instrument=%37", "instrument=+7",
		"instrument=4294967295&levels=1", "instrument=7&levels=", "&&instrument=7&", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		var args fasthttp.Args
		args.Parse(query)
		instrument, levels, err := depthArguments(&args)
		if err != nil {
			return
		}
		if instrument < 1 || levels < 1 || levels > depthLevelsMax {
			t.Fatalf("%q: accepted instrument %d levels %d", query, instrument, levels)
		}
		if len(args.PeekMulti("instrument")) != 1 || len(args.PeekMulti("levels")) > 1 {
			t.Fatalf("%q: accepted with an argument given twice", query)
		}
		var again fasthttp.Args
		again.Parse(fmt.Sprintf("instrument=%d&levels=%d", instrument, levels))
		if i, l, err := depthArguments(&again); err != nil || i != instrument || l != levels {
			t.Fatalf("%q: canonical form gives %d %d %v", query, i, l, err)
		}
	})
}
