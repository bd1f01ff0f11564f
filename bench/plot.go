package bench

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The chart is HdrHistogram's classic "latency by percentile" plot: the x axis is
// logarithmic in 1/(1−percentile), so 90%, 99%, 99.9%, … are evenly spaced and the tail
// gets the room it deserves. The y axis is logarithmic too (decades of latency), so a
// tail a thousand times the median does not flatten the body of the distribution.
const (
	plotWidth        = 960
	plotHeight       = 580
	plotLeft         = 90
	plotRight        = 30
	plotTop          = 70
	plotBottom       = 90
	plotDecadesMin   = 2 // Always show up to 99%.
	plotDecadesMax   = 6 // At most up to 99.9999%.
	plotTicksPerHalf = 5 // Percentile iteration resolution (HdrHistogram's default).
)

// plotSeries is one line of the chart.
type plotSeries struct {
	name  string
	color string
	dash  string // SVG stroke-dasharray ("" for solid).
	width int
	h     *hdrhistogram.Histogram
}

// plotAxes maps percentiles and latencies to the drawing.
type plotAxes struct {
	decades        int     // x: 0 .. decades nines.
	lowNs, highNs  float64 // y: a whole number of decades of latency.
	logLow, logTop float64
}

// WritePlot writes the run's latency-by-percentile chart as a standalone SVG document,
// one line per request and one (dashed) per event.
func WritePlot(w io.Writer, result *Result) error {
	series := []plotSeries{
		{"per request", "#1f77b4", "", 3, result.RequestLatency},
		{"per event", "#ff7f0e", "6 4", 2, result.EventLatency},
	}
	axes := newPlotAxes(result.RequestLatency, result.EventLatency)
	out := bufio.NewWriter(w)
	fmt.Fprintf(out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(out, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, plotHeight)
	writePlotTitle(out, &result.Report)
	axes.writeGrid(out)
	for i, s := range series {
		axes.writeLine(out, s)
		y := plotTop + 20 + 20*i
		fmt.Fprintf(out, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" `+
			`stroke-width="%d" stroke-dasharray="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			plotLeft+20, y, plotLeft+60, y, s.color, s.width, s.dash, plotLeft+68, y+4,
			escape(s.name))
	}
	fmt.Fprintln(out, "</svg>")
	return out.Flush()
}

func newPlotAxes(histograms ...*hdrhistogram.Histogram) plotAxes {
	var count, lowest, highest int64 = 0, latencyNsMax, 1
	for _, h := range histograms {
		if h.TotalCount() > 0 {
			count = max(count, h.TotalCount())
			lowest, highest = min(lowest, h.Min()), max(highest, h.Max())
		}
	}
	lowest = min(max(lowest, latencyNsMin), highest)
	decades := int(math.Ceil(math.Log10(float64(max(count, 1)))))
	a := plotAxes{decades: min(max(decades, plotDecadesMin), plotDecadesMax)}
	a.logLow = math.Floor(math.Log10(float64(lowest)))
	a.logTop = math.Max(math.Ceil(math.Log10(float64(highest))), a.logLow+1)
	a.lowNs, a.highNs = math.Pow(10, a.logLow), math.Pow(10, a.logTop)
	return a
}

func (a *plotAxes) x(nines float64) float64 {
	return plotLeft + nines/float64(a.decades)*(plotWidth-plotLeft-plotRight)
}

func (a *plotAxes) y(ns float64) float64 {
	position := (math.Log10(math.Max(ns, a.lowNs)) - a.logLow) / (a.logTop - a.logLow)
	return plotHeight - plotBottom - position*(plotHeight-plotTop-plotBottom)
}

func writePlotTitle(out io.Writer, report *Report) {
	c := &report.Config
	fmt.Fprintf(out, `<text x="%d" y="28" font-size="17" font-weight="bold">%s</text>`+"\n",
		plotLeft, escape(fmt.Sprintf("sequent bench: %s loop, mix %s", report.Mode, c.Mix)))
	fmt.Fprintf(out, `<text x="%d" y="50" fill="#444">%s</text>`+"\n", plotLeft,
		escape(fmt.Sprintf("%d connections x %d in flight, %d events/request; %s events/s, "+
			"%s requests/s; p50 %s, p99 %s per request", c.Connections, c.Inflight, c.Events,
			grouped(uint64(report.EventsPerS)), grouped(uint64(report.RequestsPerS)),
			formatNs(int64(report.LatencyUs.P50*1e3)),
			formatNs(int64(report.LatencyUs.P99*1e3)))))
	footer := fmt.Sprintf("%s; %d CPUs %s/%s; seed %d, run %d", c.Target, report.Machine.CPUs,
		report.Machine.OS, report.Machine.Arch, c.Seed, c.RunID)
	if l := report.LoadAverage; l != nil {
		footer += fmt.Sprintf("; load average %.2f at start", l.Start[0])
	}
	fmt.Fprintf(out, `<text x="%d" y="%d" fill="#666" font-size="11">%s</text>`+"\n",
		plotLeft, plotHeight-12, escape(footer))
}

func (a *plotAxes) writeGrid(out io.Writer) {
	bottom, right := plotHeight-plotBottom, plotWidth-plotRight
	for d := 0; d <= a.decades; d++ {
		x := a.x(float64(d))
		fmt.Fprintf(out, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+
			`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
			x, plotTop, x, bottom, x, bottom+20, percentileLabel(d))
	}
	for decade := a.logLow; decade <= a.logTop; decade++ {
		for _, factor := range []float64{1, 2, 5} {
			ns := factor * math.Pow(10, decade)
			if ns > a.highNs {
				break
			}
			y, stroke := a.y(ns), "#eee"
			if factor == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(out, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+
				`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
				plotLeft, y, right, y, stroke, plotLeft-8, y+4, tickLabel(int64(ns)))
		}
	}
	fmt.Fprintf(out, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+
		"\n", plotLeft, plotTop, right-plotLeft, bottom-plotTop)
	fmt.Fprintf(out, `<text x="%d" y="%d" text-anchor="middle">percentile</text>`+"\n",
		(plotLeft+right)/2, bottom+42)
	fmt.Fprintf(out, `<text x="22" y="%d" text-anchor="middle" transform="rotate(-90 22 %d)">`+
		`latency (log scale)</text>`+"\n", (plotTop+bottom)/2, (plotTop+bottom)/2)
}

// writeLine draws one series as a step line through its percentile iteration.
func (a *plotAxes) writeLine(out io.Writer, s plotSeries) {
	if s.h.TotalCount() == 0 {
		return
	}
	var points strings.Builder
	previousY := a.y(float64(s.h.Min()))
	fmt.Fprintf(&points, "%.1f,%.1f", a.x(0), previousY)
	for _, bracket := range s.h.CumulativeDistributionWithTicks(plotTicksPerHalf) {
		nines := float64(a.decades)
		if remaining := 1 - bracket.Quantile/100; remaining > 0 {
			nines = math.Min(math.Log10(1/remaining), float64(a.decades))
		}
		y := a.y(float64(bracket.ValueAt))
		fmt.Fprintf(&points, " %.1f,%.1f %.1f,%.1f", a.x(nines), previousY, a.x(nines), y)
		previousY = y
	}
	fmt.Fprintf(out, `<polyline fill="none" stroke="%s" stroke-width="%d" `+
		`stroke-dasharray="%s" points="%s"/>`+"\n", s.color, s.width, s.dash, points.String())
}

// percentileLabel names decade d of the x axis: 0%, 90%, 99%, 99.9%, …
func percentileLabel(d int) string {
	switch d {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", d-2) + "%"
}

// tickLabel formats a round latency without trailing zeros: 200 µs, 1 ms, 5 s.
func tickLabel(ns int64) string {
	number, unit, _ := strings.Cut(formatNs(ns), " ")
	if strings.Contains(number, ".") {
		number = strings.TrimSuffix(strings.TrimRight(number, "0"), ".")
	}
	return number + " " + unit
}

func escape(text string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(text))
	return b.String()
}
