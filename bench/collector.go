package bench

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// collector runs on its own goroutine during the load: every progressInterval (and at
// the end of the warm-up) it swaps each worker's interval sample for a clean one, merges
// what it took into the run's total, writes the interval to the HdrHistogram log and
// prints a progress line. After its loop ends, total is read by the run.
type collector struct {
	run       *run
	recorders []*recorder
	spare     *sample // A clean sample to swap in.
	interval  *sample // Scratch: the last interval of every worker.
	total     *sample // Everything measured so far.
	log       *hdrhistogram.HistogramLogWriter
	logErr    error // The first interval-log write that failed.
	startMs   int64 // Wall time of run time 0, ms since the epoch.
	lastNs    int64 // Run time of the previous collection.
}

func newCollector(r *run, recorders []*recorder) *collector {
	c := &collector{run: r, recorders: recorders, spare: newSample(), interval: newSample(),
		total: newSample()}
	if r.config.IntervalLog != nil {
		c.log = hdrhistogram.NewHistogramLogWriter(r.config.IntervalLog)
	}
	return c
}

// loop collects at every boundary until stop is closed, then collects once more (the
// workers have finished by then) and closes stopped.
func (c *collector) loop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	c.startMs = c.run.start.UnixMilli()
	c.writeLogHeader()
	timer := time.NewTimer(c.untilNextBoundary())
	defer timer.Stop()
	for {
		select {
		case <-stop:
			c.collect(false) // The report follows; a last partial line would be noise.
			return
		case <-timer.C:
			c.collect(true)
			timer.Reset(c.untilNextBoundary())
		}
	}
}

// untilNextBoundary returns the wait until the next whole interval or the warm-up's end.
func (c *collector) untilNextBoundary() time.Duration {
	now := c.run.since()
	interval := int64(progressInterval)
	next := (now/interval + 1) * interval
	if warmupEnd := c.run.warmupEndNs; warmupEnd > now && warmupEnd < next {
		next = warmupEnd
	}
	return time.Duration(next - now)
}

// collect takes every worker's interval sample, adds it to the total, logs it and, if
// print, prints the progress line.
func (c *collector) collect(print bool) {
	nowNs := c.run.since()
	c.interval.reset()
	for _, rec := range c.recorders {
		rec.mu.Lock()
		taken := rec.interval
		rec.interval = c.spare
		rec.mu.Unlock()
		c.interval.merge(taken)
		taken.reset()
		c.spare = taken
	}
	c.total.merge(c.interval)
	from := max(c.lastNs, c.run.warmupEndNs)
	// An interval of under a millisecond right at the warm-up's end holds nothing: skip
	// it rather than log a zero-length interval.
	empty := c.interval.requestLatency.TotalCount() == 0 && nowNs-from < int64(time.Millisecond)
	if nowNs > c.run.warmupEndNs && !empty {
		c.writeLogInterval(from, nowNs)
	}
	if print {
		c.printProgress(nowNs)
	}
	c.lastNs = nowNs
}

func (c *collector) writeLogHeader() {
	if c.log == nil {
		return
	}
	config := &c.run.config
	c.noteLog(c.log.OutputLogFormatVersion())
	c.noteLog(c.log.OutputComment(fmt.Sprintf("[sequent bench: %s, mix %s, %d connections"+
		" x %d in flight, %d events per request; values in ns; untagged: per request,"+
		" tag events: per event]", loopName(config.Rate), config.Mix, config.Connections,
		config.Inflight, config.Events)))
	c.noteLog(c.log.OutputStartTime(c.startMs))
	c.noteLog(c.log.OutputBaseTime(c.startMs))
	c.log.SetBaseTime(c.startMs)
	c.noteLog(c.log.OutputLegend())
}

// writeLogInterval writes the interval's two histograms (per request, untagged; per
// event, tag "events"), stamped from fromNs to toNs.
func (c *collector) writeLogInterval(fromNs, toNs int64) {
	if c.log == nil {
		return
	}
	for _, h := range []*hdrhistogram.Histogram{c.interval.requestLatency,
		c.interval.eventLatency} {
		h.SetStartTimeMs(c.startMs + fromNs/int64(time.Millisecond))
		h.SetEndTimeMs(c.startMs + toNs/int64(time.Millisecond))
	}
	c.interval.eventLatency.SetTag("events")
	c.noteLog(c.log.OutputIntervalHistogram(c.interval.requestLatency))
	c.noteLog(c.log.OutputIntervalHistogram(c.interval.eventLatency))
	c.interval.eventLatency.SetTag("")
}

func (c *collector) noteLog(err error) {
	if err != nil && c.logErr == nil {
		c.logErr = err
	}
}

// printProgress writes one line: elapsed time, this interval's rates, the latency
// percentiles of everything measured so far, and failures so far.
func (c *collector) printProgress(nowNs int64) {
	w := c.run.config.Progress
	if w == nil {
		return
	}
	seconds := float64(nowNs-c.lastNs) / float64(time.Second)
	if seconds <= 0 {
		return
	}
	elapsed := float64(nowNs) / float64(time.Second)
	if c.lastNs < c.run.warmupEndNs {
		fmt.Fprintf(w, "bench %6.1fs  warm-up  %s req/s sent  %s ev/s sent\n", elapsed,
			grouped(uint64(float64(c.interval.warmRequests)/seconds)),
			grouped(uint64(float64(c.interval.warmEvents)/seconds)))
		return
	}
	latency := c.total.requestLatency
	p50, p99 := "-", "-"
	if latency.TotalCount() > 0 {
		p50, p99 = formatNs(latency.ValueAtQuantile(50)), formatNs(latency.ValueAtQuantile(99))
	}
	fmt.Fprintf(w, "bench %6.1fs  %s req/s  %s ev/s  p50 %s  p99 %s  %s req failed\n", elapsed,
		grouped(uint64(float64(c.interval.requestsCompleted)/seconds)),
		grouped(uint64(float64(c.interval.eventsCompleted)/seconds)), p50, p99,
		grouped(c.total.requestsFailed))
}

func loopName(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %g requests/s", rate)
	}
	return "closed loop"
}

// grouped formats n with thousands separators.
func grouped(n uint64) string {
	text := fmt.Sprint(n)
	for i := len(text) - 3; i > 0; i -= 3 {
		text = text[:i] + "," + text[i:]
	}
	return text
}

// formatNs formats a latency with about three significant digits and a readable unit.
func formatNs(ns int64) string {
	switch value := float64(ns); {
	case ns < int64(time.Millisecond):
		return significant(value/1e3) + " µs"
	case ns < int64(time.Second):
		return significant(value/1e6) + " ms"
	default:
		return significant(value/1e9) + " s"
	}
}

// significant formats a value below 1000 with three significant digits, without
// exponents.
func significant(value float64) string {
	switch {
	case value < 10:
		return fmt.Sprintf("%.2f", value)
	case value < 100:
		return fmt.Sprintf("%.1f", value)
	}
	return fmt.Sprintf("%.0f", value)
}
